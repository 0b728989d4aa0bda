-- Field-return cohorts per product and ship ISO week (cohort rates by ship period, DOMAIN).
-- units_shipped: silver.shipments. A return joins its cohort by the unit's shipment (serial);
-- returns of units without a shipment record (installed base shipped before the data starts)
-- use the ship_date on the claim, so their cohorts have returns but units_shipped = 0 and null
-- rates.
-- DOA / out-of-box: flagged DOA, or failed within doa_window_days (30) of shipment.
-- Early return: failed within early_return_window_days (90) of shipment (DOA included).
-- Each counts distinct returned units. is_early_window_closed: the newest return received is
-- at least 90 days after the cohort's last ship day.
-- Maturity (docs/mart.md): a rate is final only when every unit of the cohort has had its whole
-- window AND a failure at the window's end has had time to reach the RMA system. As of
-- maturity_as_of_date (the last day of the returns feed: the newest claim's received day),
--   is_doa_mature          = as_of - cohort's last ship day >= doa_window_days + claim_lag_days
--   is_early_return_mature = as_of - cohort's last ship day >= early_return_window_days + claim_lag_days
-- An immature rate understates the cohort's rate; consumers (grade, "visible" dates) must use
-- only mature rates.

{%- set doa_days = var('doa_window_days') %}
{%- set early_days = var('early_return_window_days') %}
{%- set lag_days = var('claim_lag_days') %}

with

shipments as (

    select * from {{ ref('stg_mes__shipments') }}

),

returns as (

    select * from {{ ref('stg_field_returns__returns') }}

),

shipped_units as (

    select
        serial_number,
        max(product_id) as product_id,
        min(shipped_date) as shipped_date
    from shipments
    group by serial_number

),

cohort_shipments as (

    select
        product_id,
        {{ iso_week_start('shipped_date') }} as week_start_date,
        count(*) as units_shipped
    from shipped_units
    group by product_id, {{ iso_week_start('shipped_date') }}

),

returns_with_ship_date as (

    select
        returns.serial_number,
        coalesce(shipped_units.product_id, returns.product_id) as product_id,
        coalesce(shipped_units.shipped_date, returns.ship_date) as shipped_date,
        returns.failure_date,
        returns.is_doa
    from returns
    left join shipped_units
        on returns.serial_number = shipped_units.serial_number

),

classified_returns as (

    select
        serial_number,
        product_id,
        {{ iso_week_start('shipped_date') }} as week_start_date,
        datediff(failure_date, shipped_date) as days_to_failure,
        coalesce(is_doa, false)
            or datediff(failure_date, shipped_date) <= {{ doa_days }} as is_doa_failure,
        datediff(failure_date, shipped_date) <= {{ early_days }}
            or coalesce(is_doa, false) as is_early_return
    from returns_with_ship_date
    where shipped_date is not null

),

cohort_returns as (

    select
        product_id,
        week_start_date,
        count(distinct serial_number) as units_returned,
        count(distinct case when is_doa_failure then serial_number end) as doa_units,
        count(distinct case when is_early_return then serial_number end) as early_return_units
    from classified_returns
    group by product_id, week_start_date

),

observation as (

    select max(received_date) as last_received_date from returns

),

cohorts as (

    select
        coalesce(cohort_shipments.product_id, cohort_returns.product_id) as product_id,
        coalesce(cohort_shipments.week_start_date, cohort_returns.week_start_date) as week_start_date,
        coalesce(cohort_shipments.units_shipped, 0) as units_shipped,
        coalesce(cohort_returns.units_returned, 0) as units_returned,
        coalesce(cohort_returns.doa_units, 0) as doa_units,
        coalesce(cohort_returns.early_return_units, 0) as early_return_units
    from cohort_shipments
    full outer join cohort_returns
        on cohort_shipments.product_id = cohort_returns.product_id
        and cohort_shipments.week_start_date = cohort_returns.week_start_date

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', cohorts.product_id, cast(cohorts.week_start_date as string)) as string)
            as return_cohort_id,
        cast(cohorts.product_id as string) as product_id,

        ---------- strings
        cast({{ iso_week_label('cohorts.week_start_date') }} as string) as ship_iso_week,

        ---------- numerics
        cast(units_shipped as bigint) as units_shipped,
        cast(units_returned as bigint) as units_returned,
        cast(doa_units as bigint) as doa_units,
        cast(early_return_units as bigint) as early_return_units,
        cast(round(doa_units / nullif(units_shipped, 0), 6) as double) as doa_rate,
        cast(round(early_return_units / nullif(units_shipped, 0), 6) as double) as early_return_rate,
        cast(round(units_returned / nullif(units_shipped, 0), 6) as double) as return_rate,

        ---------- booleans
        cast(units_shipped > 0 as boolean) as has_shipment_history,
        cast(coalesce(datediff(observation.last_received_date, date_add(cohorts.week_start_date, 6))
            >= {{ early_days }}, false) as boolean) as is_early_window_closed,
        cast(coalesce(datediff(observation.last_received_date, date_add(cohorts.week_start_date, 6))
            >= {{ doa_days + lag_days }}, false) as boolean) as is_doa_mature,
        cast(coalesce(datediff(observation.last_received_date, date_add(cohorts.week_start_date, 6))
            >= {{ early_days + lag_days }}, false) as boolean) as is_early_return_mature,

        ---------- dates
        cast(cohorts.week_start_date as date) as ship_week_start_date,
        cast(observation.last_received_date as date) as maturity_as_of_date

    from cohorts
    cross join observation

)

select * from final
