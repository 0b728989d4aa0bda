-- First-pass yield per site / line / station / product / UTC test day.
-- FPY = units passing at their first attempt / units tested for the first time (DOMAIN).
-- IQC samples are excluded (incoming inspection is in fct_supplier_lot_quality).
-- Incremental (macros/incremental_scope.sql): recomputes the test days of mart_scope.station_days.

{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='station_daily_yield_id',
    incremental_scope={'column': 'tested_date', 'scope': 'station_days'},
    on_schema_change='fail'
) }}

with

first_attempts as (

    select * from {{ ref('int_unit_first_attempts') }}

),

daily as (

    select
        site_id,
        line_id,
        station_id,
        station_type,
        product_id,
        tested_date,
        count(*) as units_first_tested,
        sum(case when is_first_pass then 1 else 0 end) as units_first_passed
    from first_attempts
    {%- if is_incremental() %}
    where {{ in_mart_scope('tested_date', 'station_days') }}
    {%- endif %}
    group by site_id, line_id, station_id, station_type, product_id, tested_date

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', site_id, line_id, station_id, product_id, cast(tested_date as string)) as string)
            as station_daily_yield_id,
        cast(site_id as string) as site_id,
        cast(line_id as string) as line_id,
        cast(station_id as string) as station_id,
        cast(product_id as string) as product_id,

        ---------- strings
        cast(station_type as string) as station_type,

        ---------- numerics
        cast(units_first_tested as bigint) as units_first_tested,
        cast(units_first_passed as bigint) as units_first_passed,
        cast(units_first_tested - units_first_passed as bigint) as units_first_failed,
        cast(round(units_first_passed / units_first_tested, 6) as double) as first_pass_yield,

        ---------- dates
        cast(tested_date as date) as tested_date

    from daily

)

select * from final
