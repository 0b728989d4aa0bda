-- Quality-management capability grade (1-5) per site and calendar month, from every column of
-- the DOMAIN grade table (macros/capability_grades.sql). Site-month inputs, "weakest governs":
--   sigma_level / cpk: per characteristic (line + characteristic), the mean of its weekly values
--     over the weeks starting in the month with sufficient data (fct_spc_capability
--     .has_sufficient_data); the site takes the weakest characteristic. The capability index of a
--     week is its Cpk when the week is in statistical control (fct_spc_capability.is_in_control)
--     and its Ppk otherwise: Cpk (short-term sigma) assumes a stable process and overstates the
--     capability of a drifting one (docs/mart.md). The column keeps the name cpk;
--     weeks_graded_on_ppk counts the characteristic-weeks graded on Ppk;
--   rolled_fpy: per product, the product over the route of the month's station-type FPY
--     (units first-passed / first-tested, lines pooled), for products whose route is complete in
--     the month (every route station type has first attempts): a product over fewer stations is
--     not a rolled yield (e.g. a site's first weeks with only ICT and FT). The site takes the
--     weakest complete product; with none, rolled_fpy is null (not measured, grade 1);
--     products_route_incomplete counts the products left out;
--   internal / external loss rate: fct_quality_loss (null = not measured).
-- The grade is the least of the five per-column grades: a site reaches a grade only when it
-- meets every column.

{%- set route = var('route_station_types') %}

with

capability as (

    select * from {{ ref('fct_spc_capability') }}

),

station_daily_yield as (

    select * from {{ ref('fct_station_daily_yield') }}

),

quality_loss as (

    select * from {{ ref('fct_quality_loss') }}

),

characteristic_months as (

    select
        site_id,
        line_id,
        characteristic_id,
        {{ month_start('week_start_date') }} as month_start_date,
        avg(sigma_level) as sigma_level,
        avg(case when is_in_control then cpk else ppk end) as cpk,
        count(case when not coalesce(is_in_control, false) then 1 end) as weeks_graded_on_ppk
    from capability
    where has_sufficient_data
    group by site_id, line_id, characteristic_id, {{ month_start('week_start_date') }}

),

site_capability as (

    select
        site_id,
        month_start_date,
        min(sigma_level) as sigma_level,
        min(cpk) as cpk,
        count(*) as characteristics_measured,
        sum(weeks_graded_on_ppk) as weeks_graded_on_ppk
    from characteristic_months
    group by site_id, month_start_date

),

station_months as (

    select
        site_id,
        product_id,
        {{ month_start('tested_date') }} as month_start_date,
        station_type,
        sum(units_first_passed) / sum(units_first_tested) as first_pass_yield
    from station_daily_yield
    where station_type in ('{{ route | join("', '") }}')
    group by site_id, product_id, {{ month_start('tested_date') }}, station_type
    having sum(units_first_tested) > 0

),

product_months as (

    select
        site_id,
        product_id,
        month_start_date,
        {{ product_aggregate('first_pass_yield') }} as rolled_fpy,
        count(*) = {{ route | length }} as is_route_complete
    from station_months
    group by site_id, product_id, month_start_date

),

site_yield as (

    select
        site_id,
        month_start_date,
        min(case when is_route_complete then rolled_fpy end) as rolled_fpy,
        count(case when is_route_complete then 1 end) as products_measured,
        count(case when not is_route_complete then 1 end) as products_route_incomplete
    from product_months
    group by site_id, month_start_date

),

site_months as (

    select site_id, month_start_date from site_capability
    union
    select site_id, month_start_date from site_yield
    union
    select site_id, month_start_date from quality_loss where site_id <> 'UNATTRIBUTED'

),

measures as (

    select
        site_months.site_id,
        site_months.month_start_date,
        site_capability.sigma_level,
        site_capability.cpk,
        site_yield.rolled_fpy,
        quality_loss.internal_loss_rate,
        quality_loss.external_loss_rate,
        coalesce(site_capability.characteristics_measured, 0) as characteristics_measured,
        coalesce(site_yield.products_measured, 0) as products_measured,
        coalesce(site_yield.products_route_incomplete, 0) as products_route_incomplete,
        coalesce(site_capability.weeks_graded_on_ppk, 0) as weeks_graded_on_ppk
    from site_months
    left join site_capability
        on site_months.site_id = site_capability.site_id
        and site_months.month_start_date = site_capability.month_start_date
    left join site_yield
        on site_months.site_id = site_yield.site_id
        and site_months.month_start_date = site_yield.month_start_date
    left join quality_loss
        on site_months.site_id = quality_loss.site_id
        and site_months.month_start_date = quality_loss.month_start_date

),

graded as (

    select
        measures.*,
        {{ sigma_level_grade('sigma_level') }} as sigma_level_grade,
        {{ cpk_grade('cpk') }} as cpk_grade,
        {{ rolled_fpy_grade('rolled_fpy') }} as rolled_fpy_grade,
        {{ internal_loss_grade('internal_loss_rate') }} as internal_loss_grade,
        {{ external_loss_grade('external_loss_rate') }} as external_loss_grade
    from measures

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', site_id, cast(month_start_date as string)) as string) as capability_grade_id,
        cast(site_id as string) as site_id,

        ---------- strings
        cast(case least(sigma_level_grade, cpk_grade, rolled_fpy_grade, internal_loss_grade, external_loss_grade)
            when 1 then 'Experience' when 2 then 'Inspection' when 3 then 'Assurance'
            when 4 then 'Prevention' when 5 then 'Excellence'
        end as string) as grade_name,

        ---------- numerics
        cast(least(sigma_level_grade, cpk_grade, rolled_fpy_grade, internal_loss_grade, external_loss_grade)
            as int) as capability_grade,
        cast(sigma_level_grade as int) as sigma_level_grade,
        cast(cpk_grade as int) as cpk_grade,
        cast(rolled_fpy_grade as int) as rolled_fpy_grade,
        cast(internal_loss_grade as int) as internal_loss_grade,
        cast(external_loss_grade as int) as external_loss_grade,
        cast(round(sigma_level, 4) as double) as sigma_level,
        cast(round(cpk, 4) as double) as cpk,
        cast(round(rolled_fpy, 6) as double) as rolled_fpy,
        cast(internal_loss_rate as double) as internal_loss_rate,
        cast(external_loss_rate as double) as external_loss_rate,
        cast(characteristics_measured as bigint) as characteristics_measured,
        cast(products_measured as bigint) as products_measured,
        cast(products_route_incomplete as bigint) as products_route_incomplete,
        cast(weeks_graded_on_ppk as bigint) as weeks_graded_on_ppk,

        ---------- dates
        cast(month_start_date as date) as month_start_date

    from graded

)

select * from final
