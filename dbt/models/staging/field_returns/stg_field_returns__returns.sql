with

source as (

    select * from {{ source('field_returns', 'field_returns') }}

),

latest as (

    {{ latest_per_key('source', ['rma_id']) }}

),

renamed as (

    select
        ---------- ids
        rma_id,
        serial_number,
        product_id,
        customer_pseudonym,

        ---------- strings
        customer_region,
        symptom_code,
        failure_mode,
        usage_profile,
        claim_type,

        ---------- numerics
        cast(ambient_temp_c as double) as ambient_temp_c,
        cast(humidity_pct as double) as humidity_pct,
        cast(claim_cost_usd as double) as claim_cost_usd,
        datediff(failure_date, ship_date) as days_in_service,

        ---------- booleans
        cast(is_doa as boolean) as is_doa,

        ---------- dates
        ship_date,
        failure_date,
        cast(received_at as date) as received_date,
        landing_date,

        ---------- timestamps
        received_at,

        ---------- lineage
        _source_file,
        _record_locator,
        _run_id

    from latest

)

select * from renamed
