-- The weekly digest's KPI trends (reporting/digest.py renders them; docs/digest-mail.md): one row
-- per ISO week, KPI and site (or product), with the week's value, the week before and the four
-- weeks before, compared LIKE FOR LIKE.
--
-- A week holds covered_days days: 7, or fewer for the data's latest week (Monday up to the last
-- day with first attempts). Every comparison window takes the same weekdays: a week holding
-- Monday-Wednesday is compared with Monday-Wednesday of the week before (value_last_week) and
-- with Monday-Wednesday of the four weeks before, pooled (value_last_4_weeks).
--
-- KPIs (the definitions live in the facts this model reads; nothing is re-derived here):
--   rolled_fpy          per product and site: product of the route's station-type FPYs, pooled
--                       over the window's days (fct_station_daily_yield, as fct_route_rolled_yield);
--                       null unless every route station type has first attempts in the window;
--   cpk_below_1_33      per site: characteristic-weeks with sufficient data whose capability index
--                       (Cpk when in statistical control, else Ppk: as fct_capability_grade) is
--                       below 1.33; weekly by nature (fct_spc_capability), so a partial week is
--                       NOT like for like (is_like_for_like false); last 4 weeks = the mean of the four weeks' counts;
--   internal_loss_rate, external_loss_rate
--                       per site: loss / output value over the window's days (fct_quality_loss_daily);
--   doa_rate, early_return_rate
--                       per product, MATURE cohorts only: the newest ship-week cohort whose window
--                       plus claim lag has passed by the week's last covered day (counted from the
--                       cohort's Sunday), the cohort before it, and the four before it pooled
--                       (fct_field_return_cohorts); basis names the cohort.

{%- set route = var('route_station_types') %}
{%- set doa_days = (var('doa_window_days') | int) + (var('claim_lag_days') | int) %}
{%- set early_days = (var('early_return_window_days') | int) + (var('claim_lag_days') | int) %}

with

station_daily_yield as (

    select * from {{ ref('fct_station_daily_yield') }}

),

spc_capability as (

    select * from {{ ref('fct_spc_capability') }}

),

quality_loss_daily as (

    select * from {{ ref('fct_quality_loss_daily') }}

),

cohorts as (

    select * from {{ ref('fct_field_return_cohorts') }}

),

data_end as (

    select max(tested_date) as last_day from station_daily_yield

),

weeks as (

    select
        week_start_date,
        cast(least(7, datediff(data_end.last_day, week_start_date) + 1) as int) as covered_days
    from (
        select distinct {{ iso_week_start('tested_date') }} as week_start_date from station_daily_yield
    ) as tested_weeks
    cross join data_end

),

-- the comparison windows of each week, each on the same weekdays (Monday .. covered_days)
periods as (

    select week_start_date, covered_days, 'this_week' as period, week_start_date as source_week_start
    from weeks
    union all
    select week_start_date, covered_days, 'last_week' as period, date_sub(week_start_date, 7) as source_week_start
    from weeks
    union all
    select week_start_date, covered_days, 'last_4_weeks' as period, date_sub(week_start_date, 7 * k) as source_week_start
    from weeks
    lateral view explode(sequence(1, 4)) weeks_back as k

),

-- ------------------------------------------------------------------ rolled first-pass yield

station_period as (

    select
        periods.week_start_date,
        periods.period,
        yield.site_id,
        yield.product_id,
        yield.station_type,
        sum(yield.units_first_tested) as units_first_tested,
        sum(yield.units_first_passed) as units_first_passed
    from periods
    inner join station_daily_yield as yield
        on {{ iso_week_start('yield.tested_date') }} = periods.source_week_start
        and datediff(yield.tested_date, periods.source_week_start) < periods.covered_days
    where yield.station_type in ('{{ route | join("', '") }}')
    group by periods.week_start_date, periods.period, yield.site_id, yield.product_id, yield.station_type

),

rolled_period as (

    select
        week_start_date,
        period,
        site_id,
        product_id,
        case
            when count(*) = {{ route | length }}
                then {{ product_aggregate('units_first_passed / units_first_tested') }}
        end as rolled_fpy,
        min(units_first_tested) as units_first_tested
    from station_period
    where units_first_tested > 0
    group by week_start_date, period, site_id, product_id

),

rolled_fpy as (

    select
        weeks.week_start_date,
        this_week.site_id,
        this_week.product_id,
        'rolled_fpy' as kpi,
        this_week.rolled_fpy as value,
        last_week.rolled_fpy as value_last_week,
        last_4_weeks.rolled_fpy as value_last_4_weeks,
        true as is_like_for_like,
        concat('route first attempts (fewest at one station type): ', cast(this_week.units_first_tested as string))
            as basis
    from weeks
    inner join rolled_period as this_week
        on this_week.week_start_date = weeks.week_start_date and this_week.period = 'this_week'
    left join rolled_period as last_week
        on last_week.week_start_date = weeks.week_start_date and last_week.period = 'last_week'
        and last_week.site_id = this_week.site_id and last_week.product_id = this_week.product_id
    left join rolled_period as last_4_weeks
        on last_4_weeks.week_start_date = weeks.week_start_date and last_4_weeks.period = 'last_4_weeks'
        and last_4_weeks.site_id = this_week.site_id and last_4_weeks.product_id = this_week.product_id

),

-- ------------------------------------------------------------------ capability (Cpk < 1.33)

capability_weekly as (

    select
        site_id,
        week_start_date,
        count(*) as characteristics_graded,
        count(case when (case when is_in_control then cpk else ppk end) < 1.33 then 1 end) as below_1_33
    from spc_capability
    where has_sufficient_data
    group by site_id, week_start_date

),

capability_last_4_weeks as (

    select
        weeks.week_start_date,
        capability_weekly.site_id,
        avg(cast(capability_weekly.below_1_33 as double)) as below_1_33
    from weeks
    inner join capability_weekly
        on capability_weekly.week_start_date between date_sub(weeks.week_start_date, 28)
            and date_sub(weeks.week_start_date, 7)
    group by weeks.week_start_date, capability_weekly.site_id

),

cpk_below_1_33 as (

    select
        weeks.week_start_date,
        this_week.site_id,
        cast(null as string) as product_id,
        'cpk_below_1_33' as kpi,
        cast(this_week.below_1_33 as double) as value,
        cast(last_week.below_1_33 as double) as value_last_week,
        last_4_weeks.below_1_33 as value_last_4_weeks,
        weeks.covered_days = 7 as is_like_for_like,
        concat('characteristics graded: ', cast(this_week.characteristics_graded as string)) as basis
    from weeks
    inner join capability_weekly as this_week
        on this_week.week_start_date = weeks.week_start_date
    left join capability_weekly as last_week
        on last_week.site_id = this_week.site_id
        and last_week.week_start_date = date_sub(weeks.week_start_date, 7)
    left join capability_last_4_weeks as last_4_weeks
        on last_4_weeks.site_id = this_week.site_id
        and last_4_weeks.week_start_date = weeks.week_start_date

),

-- ------------------------------------------------------------------ quality loss

loss_period as (

    select
        periods.week_start_date,
        periods.period,
        loss.site_id,
        sum(loss.internal_loss_usd) / nullif(sum(loss.output_value_usd), 0) as internal_loss_rate,
        sum(loss.external_loss_usd) / nullif(sum(loss.output_value_usd), 0) as external_loss_rate,
        sum(loss.output_value_usd) as output_value_usd
    from periods
    inner join quality_loss_daily as loss
        on {{ iso_week_start('loss.loss_date') }} = periods.source_week_start
        and datediff(loss.loss_date, periods.source_week_start) < periods.covered_days
    group by periods.week_start_date, periods.period, loss.site_id

),

{%- for rate in ['internal_loss_rate', 'external_loss_rate'] %}

{{ rate }} as (

    select
        weeks.week_start_date,
        this_week.site_id,
        cast(null as string) as product_id,
        '{{ rate }}' as kpi,
        this_week.{{ rate }} as value,
        last_week.{{ rate }} as value_last_week,
        last_4_weeks.{{ rate }} as value_last_4_weeks,
        true as is_like_for_like,
        concat('output value USD: ', format_number(this_week.output_value_usd, 0)) as basis
    from weeks
    inner join loss_period as this_week
        on this_week.week_start_date = weeks.week_start_date and this_week.period = 'this_week'
    left join loss_period as last_week
        on last_week.week_start_date = weeks.week_start_date and last_week.period = 'last_week'
        and last_week.site_id = this_week.site_id
    left join loss_period as last_4_weeks
        on last_4_weeks.week_start_date = weeks.week_start_date and last_4_weeks.period = 'last_4_weeks'
        and last_4_weeks.site_id = this_week.site_id
    where this_week.site_id <> 'UNATTRIBUTED'

),

{%- endfor %}

-- ------------------------------------------------------------------ field returns (mature cohorts)

{%- for rate, units, days in [('doa_rate', 'doa_units', doa_days), ('early_return_rate', 'early_return_units', early_days)] %}

{{ rate }}_ranked as (

    select
        weeks.week_start_date,
        cohorts.product_id,
        cohorts.ship_iso_week,
        cohorts.units_shipped,
        cohorts.{{ units }} as units_counted,
        row_number() over (
            partition by weeks.week_start_date, cohorts.product_id order by cohorts.ship_week_start_date desc
        ) as cohort_rank
    from weeks
    inner join cohorts
        on datediff(
            date_add(weeks.week_start_date, weeks.covered_days - 1), date_add(cohorts.ship_week_start_date, 6)
        ) >= {{ days }}
    where cohorts.units_shipped > 0

),

{{ rate }} as (

    select
        week_start_date,
        product_id,
        '{{ rate }}' as kpi,
        max(case when cohort_rank = 1 then units_counted / units_shipped end) as value,
        max(case when cohort_rank = 2 then units_counted / units_shipped end) as value_last_week,
        sum(case when cohort_rank between 2 and 5 then units_counted end)
            / nullif(sum(case when cohort_rank between 2 and 5 then units_shipped end), 0) as value_last_4_weeks,
        concat(
            'newest mature cohort: ship week ', max(case when cohort_rank = 1 then ship_iso_week end),
            ', units shipped ', cast(max(case when cohort_rank = 1 then units_shipped end) as string)
        ) as basis
    from {{ rate }}_ranked
    where cohort_rank <= 5
    group by week_start_date, product_id

),

{%- endfor %}

kpis as (

    select week_start_date, site_id, product_id, kpi, value, value_last_week, value_last_4_weeks, is_like_for_like, basis
    from rolled_fpy
    union all
    select week_start_date, site_id, product_id, kpi, value, value_last_week, value_last_4_weeks, is_like_for_like, basis
    from cpk_below_1_33
    union all
    select week_start_date, site_id, product_id, kpi, value, value_last_week, value_last_4_weeks, is_like_for_like, basis
    from internal_loss_rate
    union all
    select week_start_date, site_id, product_id, kpi, value, value_last_week, value_last_4_weeks, is_like_for_like, basis
    from external_loss_rate
    union all
    select week_start_date, cast(null as string) as site_id, product_id, kpi, value, value_last_week, value_last_4_weeks,
        true as is_like_for_like, basis
    from doa_rate
    union all
    select week_start_date, cast(null as string) as site_id, product_id, kpi, value, value_last_week, value_last_4_weeks,
        true as is_like_for_like, basis
    from early_return_rate

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', kpis.kpi, coalesce(kpis.site_id, '*'), coalesce(kpis.product_id, '*'),
            cast(kpis.week_start_date as string)) as string) as kpi_trend_id,
        cast({{ iso_week_label('kpis.week_start_date') }} as string) as iso_week,
        cast(kpis.kpi as string) as kpi,
        cast(case kpis.kpi
            when 'rolled_fpy' then 'Rolled first-pass yield'
            when 'cpk_below_1_33' then 'Characteristics with Cpk below 1.33'
            when 'internal_loss_rate' then 'Internal quality loss (share of output value)'
            when 'external_loss_rate' then 'External quality loss (share of output value)'
            when 'doa_rate' then 'Dead-on-arrival rate (mature cohorts)'
            when 'early_return_rate' then 'Early-return rate (mature cohorts)'
        end as string) as kpi_name,
        cast(kpis.kpi in ('rolled_fpy') as boolean) as is_higher_better,
        cast(case when kpis.kpi = 'cpk_below_1_33' then 'count' else 'share' end as string) as value_unit,
        cast(kpis.site_id as string) as site_id,
        cast(kpis.product_id as string) as product_id,

        ---------- numerics
        cast(weeks.covered_days as int) as covered_days,
        cast(round(kpis.value, 6) as double) as value,
        cast(round(kpis.value_last_week, 6) as double) as value_last_week,
        cast(round(kpis.value_last_4_weeks, 6) as double) as value_last_4_weeks,
        cast(round(kpis.value - kpis.value_last_week, 6) as double) as change_vs_last_week,
        cast(round(kpis.value - kpis.value_last_4_weeks, 6) as double) as change_vs_last_4_weeks,

        ---------- booleans
        cast(weeks.covered_days < 7 as boolean) as is_partial_week,
        cast(kpis.is_like_for_like as boolean) as is_like_for_like,

        ---------- text
        cast(kpis.basis as string) as basis,

        ---------- dates
        cast(kpis.week_start_date as date) as week_start_date

    from kpis
    inner join weeks on kpis.week_start_date = weeks.week_start_date

)

select * from final
