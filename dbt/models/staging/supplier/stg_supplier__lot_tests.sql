with

source as (

    select * from {{ source('supplier', 'supplier_lot_tests') }}

),

latest as (

    {{ latest_per_key('source', ['supplier_lot_id', 'characteristic_id']) }}

),

renamed as (

    select
        ---------- ids
        concat_ws('|', supplier_lot_id, characteristic_id) as lot_test_id,
        supplier_id,
        supplier_lot_id,
        part_id,
        purchase_order_id,
        characteristic_id,

        ---------- strings
        value_code,
        unit_of_measure,

        ---------- numerics
        cast(lot_quantity as int) as lot_quantity,
        cast(measured_value as double) as measured_value,
        cast(lower_spec_limit as double) as lower_spec_limit,
        cast(upper_spec_limit as double) as upper_spec_limit,

        ---------- booleans
        coalesce(measured_value < lower_spec_limit, false)
            or coalesce(measured_value > upper_spec_limit, false) as is_out_of_spec,

        ---------- dates
        order_closed_date,
        lot_shipped_date,
        landing_date,

        ---------- lineage
        _source_file,
        _record_locator,
        _run_id

    from latest

)

select * from renamed
