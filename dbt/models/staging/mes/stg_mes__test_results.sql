with

source as (

    select * from {{ source('mes', 'test_results') }}

),

latest as (

    {{ latest_per_key('source', ['test_result_id']) }}

),

renamed as (

    select
        ---------- ids
        test_result_id,
        serial_number,
        work_order_id,
        site_id,
        line_id,
        station_id,
        product_id,
        supplier_lot_id,

        ---------- strings
        station_type,
        failure_code,
        disposition,

        ---------- numerics
        cast(attempt_number as int) as attempt_number,
        cast(loss_cost_usd as double) as loss_cost_usd,

        ---------- booleans
        cast(is_pass as boolean) as is_pass,
        station_type = 'IQC' as is_iqc_sample,

        ---------- dates
        cast(tested_at as date) as tested_date,
        landing_date,

        ---------- timestamps
        tested_at,

        ---------- lineage
        _source_file,
        _record_locator,
        _run_id

    from latest

)

select * from renamed
