with

source as (

    select * from {{ source('mes', 'shipments') }}

),

latest as (

    {{ latest_per_key('source', ['shipment_id']) }}

),

renamed as (

    select
        ---------- ids
        shipment_id,
        serial_number,
        product_id,
        site_id,

        ---------- strings
        customer_region,

        ---------- numerics
        cast(unit_value_usd as double) as unit_value_usd,

        ---------- dates
        cast(shipped_at as date) as shipped_date,
        landing_date,

        ---------- timestamps
        shipped_at,

        ---------- lineage
        _source_file,
        _record_locator,
        _run_id

    from latest

)

select * from renamed
