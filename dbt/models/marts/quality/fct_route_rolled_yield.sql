-- Rolled throughput yield (full-process first-pass yield) per product / site / ISO week:
-- the product of the station-type FPYs over the route ICT -> FT -> REL -> SYS (DOMAIN),
-- computed as exp(sum(ln(fpy))) and 0 when any station's FPY is 0.
-- Station FPY here pools the site's lines: first-passed / first-tested units in the week.

-- Incremental (macros/incremental_scope.sql): recomputes the weeks of mart_scope.route_weeks.

{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='route_rolled_yield_id',
    incremental_scope={'column': 'week_start_date', 'scope': 'route_weeks'},
    on_schema_change='fail'
) }}

{%- set route = var('route_station_types') %}

with

station_daily_yield as (

    select * from {{ ref('fct_station_daily_yield') }}

),

station_weekly as (

    select
        site_id,
        product_id,
        {{ iso_week_start('tested_date') }} as week_start_date,
        station_type,
        sum(units_first_tested) as units_first_tested,
        sum(units_first_passed) as units_first_passed
    from station_daily_yield
    where station_type in ('{{ route | join("', '") }}')
    {%- if is_incremental() %}
        and {{ in_mart_scope(iso_week_start('tested_date'), 'route_weeks') }}
    {%- endif %}
    group by site_id, product_id, {{ iso_week_start('tested_date') }}, station_type

),

station_fpy as (

    select
        station_weekly.*,
        units_first_passed / units_first_tested as first_pass_yield
    from station_weekly
    where units_first_tested > 0

),

rolled as (

    select
        site_id,
        product_id,
        week_start_date,
        {%- for station in route %}
        max(case when station_type = '{{ station }}' then first_pass_yield end) as fpy_{{ station | lower }},
        sum(case when station_type = '{{ station }}' then units_first_tested else 0 end)
            as units_first_tested_{{ station | lower }},
        {%- endfor %}
        count(*) as stations_measured,
        min(first_pass_yield) as min_station_fpy,
        {{ product_aggregate('first_pass_yield') }} as rolled_fpy
    from station_fpy
    group by site_id, product_id, week_start_date

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', product_id, site_id, cast(week_start_date as string)) as string) as route_rolled_yield_id,
        cast(product_id as string) as product_id,
        cast(site_id as string) as site_id,

        ---------- strings
        cast({{ iso_week_label('week_start_date') }} as string) as iso_week,

        ---------- numerics
        {%- for station in route %}
        cast(round(fpy_{{ station | lower }}, 6) as double) as fpy_{{ station | lower }},
        cast(units_first_tested_{{ station | lower }} as bigint) as units_first_tested_{{ station | lower }},
        {%- endfor %}
        cast(stations_measured as int) as stations_measured,
        cast(round(min_station_fpy, 6) as double) as min_station_fpy,
        cast(round(rolled_fpy, 6) as double) as rolled_fpy,

        ---------- booleans
        cast(stations_measured = {{ route | length }} as boolean) as is_route_complete,

        ---------- dates
        cast(week_start_date as date) as week_start_date

    from rolled

)

select * from final
