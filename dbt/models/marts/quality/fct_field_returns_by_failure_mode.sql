-- Field returns per product, failure mode and received ISO week, without any customer data.
-- The only customer columns of the lakehouse (the claim's customer pseudonym and region) are
-- dropped here, so the analysts' Superset can show returns by failure mode (docs/bi.md).
-- DOA / early return as in fct_field_return_cohorts: flagged DOA or failed within
-- doa_window_days (30) of shipment; failed within early_return_window_days (90), DOA included.
-- days_in_service = failure_date - ship_date on the claim.

{%- set doa_days = var('doa_window_days') %}
{%- set early_days = var('early_return_window_days') %}

with

returns as (

    select * from {{ ref('stg_field_returns__returns') }}

),

classified as (

    select
        serial_number,
        product_id,
        failure_mode,
        {{ iso_week_start('received_date') }} as week_start_date,
        days_in_service,
        claim_cost_usd,
        coalesce(is_doa, false) or days_in_service <= {{ doa_days }} as is_doa_failure,
        coalesce(is_doa, false) or days_in_service <= {{ early_days }} as is_early_return
    from returns

),

by_failure_mode as (

    select
        product_id,
        failure_mode,
        week_start_date,
        count(*) as returns,
        count(distinct serial_number) as units_returned,
        count(distinct case when is_doa_failure then serial_number end) as doa_units,
        count(distinct case when is_early_return then serial_number end) as early_return_units,
        sum(claim_cost_usd) as claim_cost_usd,
        avg(days_in_service) as mean_days_in_service
    from classified
    group by product_id, failure_mode, week_start_date

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', product_id, failure_mode, cast(week_start_date as string)) as string)
            as failure_mode_week_id,
        cast(product_id as string) as product_id,

        ---------- strings
        cast(failure_mode as string) as failure_mode,
        cast({{ iso_week_label('week_start_date') }} as string) as received_iso_week,

        ---------- numerics
        cast(returns as bigint) as returns,
        cast(units_returned as bigint) as units_returned,
        cast(doa_units as bigint) as doa_units,
        cast(early_return_units as bigint) as early_return_units,
        cast(round(claim_cost_usd, 2) as double) as claim_cost_usd,
        cast(round(mean_days_in_service, 2) as double) as mean_days_in_service,

        ---------- dates
        cast(week_start_date as date) as received_week_start_date

    from by_failure_mode

)

select * from final
