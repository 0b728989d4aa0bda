with

source as (

    select * from {{ source('mes', 'unit_genealogy') }}

),

latest as (

    {{ latest_per_key('source', ['serial_number', 'part_id']) }}

),

renamed as (

    select
        ---------- ids
        concat_ws('|', serial_number, part_id) as unit_component_id,
        serial_number,
        product_id,
        build_lot_id,
        site_id,
        line_id,
        part_id,
        supplier_id,
        supplier_lot_id,

        ---------- dates
        cast(built_at as date) as built_date,
        landing_date,

        ---------- timestamps
        built_at,

        ---------- lineage
        _source_file,
        _record_locator,
        _run_id

    from latest

)

select * from renamed
