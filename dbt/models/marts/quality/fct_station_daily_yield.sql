-- First-pass yield per site / line / station / product / UTC test day.
-- FPY = units passing at their first attempt / units tested for the first time (DOMAIN).
-- IQC samples are excluded (incoming inspection is in fct_supplier_lot_quality).

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
