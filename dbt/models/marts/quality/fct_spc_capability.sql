-- Process capability per SPC characteristic (site / line / characteristic) per ISO week.
--
-- sigma_within (short-term):
--   * subgrouped characteristics (largest subgroup of the week has n >= 2): the mean of
--     R_i / d2(n_i) over subgroups with 2 <= n_i <= 10, which is R-bar / d2 when every subgroup
--     has the same size (subgroups shrunk to 1 by quarantined records are skipped);
--   * individuals (n = 1): MR-bar / 1.128, moving ranges of consecutive measurements in time
--     order within the week.
-- sigma_overall: sample standard deviation of all measurements of the week.
-- Cp = (USL - LSL) / 6 sigma_within (null for one-sided specs);
-- Cpk = min(USL - mean, mean - LSL) / 3 sigma_within over the sides that exist; Pp/Ppk alike
-- with sigma_overall.
-- observed_ppm: measurements outside their own limits per million.
-- expected_ppm: out-of-spec fraction of the fitted normal (mean, sigma_overall) per million,
--   i.e. long-term DPMO with one opportunity per measurement.
-- has_sufficient_data: at least capability_min_measurements (30) measurements in the week;
--   only such weeks feed fct_capability_grade (a week cut by the data's edge is not graded).
-- sigma_level: Z = Phi^-1(1 - expected_ppm / 1e6) + 1.5 (short-term, 1.5 sigma shift), with
--   expected_ppm floored at 0.001 (Z capped at 7.4978); see macros/statistics.sql.
-- is_in_control (statistical control of the week, Nelson rule 1 on the week's phase-I chart):
--   every subgroup mean (individual value for n = 1) lies within the trial limits
--   mean_value +/- 3 sigma_within / sqrt(n_i); points_beyond_control_limits counts the others.
--   Null when sigma_within is not positive. Cpk assumes a stable process, so fct_capability_grade
--   grades Cpk only for in-control weeks and Ppk otherwise (docs/mart.md).

--
-- Incremental (macros/incremental_scope.sql): recomputes the weeks of mart_scope.capability_weeks
-- (a week is one computation: every measurement of the week is read again).

{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='spc_capability_id',
    incremental_scope={'column': 'week_start_date', 'scope': 'capability_weeks'},
    on_schema_change='fail'
) }}

with

measurements as (

    select
        *,
        {{ iso_week_start('measured_at') }} as week_start_date
    from {{ ref('stg_spc__measurements') }}
    {%- if is_incremental() %}
    where {{ in_mart_scope(iso_week_start('measured_at'), 'capability_weeks') }}
    {%- endif %}

),

subgroups as (

    select
        site_id,
        line_id,
        characteristic_id,
        week_start_date,
        subgroup_id,
        count(*) as subgroup_size,
        avg(measured_value) as subgroup_mean,
        max(measured_value) - min(measured_value) as subgroup_range
    from measurements
    group by site_id, line_id, characteristic_id, week_start_date, subgroup_id

),

subgroup_sigma as (

    select
        site_id,
        line_id,
        characteristic_id,
        week_start_date,
        max(subgroup_size) as max_subgroup_size,
        count(case when subgroup_size between 2 and 10 then 1 end) as subgroups_used,
        avg(case when subgroup_size between 2 and 10 then subgroup_range end) as mean_subgroup_range,
        avg(
            case when subgroup_size between 2 and 10
                then subgroup_range / {{ d2_constant('subgroup_size') }}
            end
        ) as sigma_within_subgroups
    from subgroups
    group by site_id, line_id, characteristic_id, week_start_date

),

moving_ranges as (

    select
        site_id,
        line_id,
        characteristic_id,
        week_start_date,
        abs(
            measured_value - lag(measured_value) over (
                partition by site_id, line_id, characteristic_id, week_start_date
                order by measured_at, measurement_id
            )
        ) as moving_range
    from measurements

),

individual_sigma as (

    select
        site_id,
        line_id,
        characteristic_id,
        week_start_date,
        avg(moving_range) as mean_moving_range,
        count(moving_range) as moving_ranges_used
    from moving_ranges
    group by site_id, line_id, characteristic_id, week_start_date

),

weekly as (

    select
        site_id,
        line_id,
        characteristic_id,
        week_start_date,
        max(unit_of_measure) as unit_of_measure,
        count(*) as n_measurements,
        avg(measured_value) as mean_value,
        stddev_samp(measured_value) as sigma_overall,
        max(lower_spec_limit) as lower_spec_limit,
        max(upper_spec_limit) as upper_spec_limit,
        max(target_value) as target_value,
        sum(
            case
                when measured_value < lower_spec_limit or measured_value > upper_spec_limit then 1
                else 0
            end
        ) as n_out_of_spec
    from measurements
    group by site_id, line_id, characteristic_id, week_start_date

),

sigmas as (

    select
        weekly.*,
        subgroup_sigma.max_subgroup_size,
        case
            when subgroup_sigma.max_subgroup_size >= 2 then 'r_bar_over_d2'
            else 'mr_bar_over_1_128'
        end as sigma_within_method,
        case
            when subgroup_sigma.max_subgroup_size >= 2 then subgroup_sigma.subgroups_used
            else individual_sigma.moving_ranges_used
        end as ranges_used,
        case
            when subgroup_sigma.max_subgroup_size >= 2 then subgroup_sigma.sigma_within_subgroups
            else individual_sigma.mean_moving_range / 1.128
        end as sigma_within
    from weekly
    inner join subgroup_sigma
        on weekly.site_id = subgroup_sigma.site_id
        and weekly.line_id = subgroup_sigma.line_id
        and weekly.characteristic_id = subgroup_sigma.characteristic_id
        and weekly.week_start_date = subgroup_sigma.week_start_date
    inner join individual_sigma
        on weekly.site_id = individual_sigma.site_id
        and weekly.line_id = individual_sigma.line_id
        and weekly.characteristic_id = individual_sigma.characteristic_id
        and weekly.week_start_date = individual_sigma.week_start_date

),

control as (

    -- phase-I (trial) X-bar / individuals chart of the week: centre = the week's mean,
    -- limits +/- 3 sigma_within / sqrt(subgroup size)
    select
        sigmas.site_id,
        sigmas.line_id,
        sigmas.characteristic_id,
        sigmas.week_start_date,
        count(
            case
                when abs(subgroups.subgroup_mean - sigmas.mean_value)
                    > 3 * sigmas.sigma_within / sqrt(subgroups.subgroup_size) then 1
            end
        ) as points_beyond_control_limits
    from sigmas
    inner join subgroups
        on sigmas.site_id = subgroups.site_id
        and sigmas.line_id = subgroups.line_id
        and sigmas.characteristic_id = subgroups.characteristic_id
        and sigmas.week_start_date = subgroups.week_start_date
    where sigmas.sigma_within > 0
    group by sigmas.site_id, sigmas.line_id, sigmas.characteristic_id, sigmas.week_start_date

),

indices as (

    select
        sigmas.*,
        control.points_beyond_control_limits,
        case when upper_spec_limit is not null and lower_spec_limit is not null and sigma_within > 0
            then (upper_spec_limit - lower_spec_limit) / (6 * sigma_within) end as cp,
        case when sigma_within > 0
            then least((upper_spec_limit - mean_value) / (3 * sigma_within),
                       (mean_value - lower_spec_limit) / (3 * sigma_within)) end as cpk,
        case when upper_spec_limit is not null and lower_spec_limit is not null and sigma_overall > 0
            then (upper_spec_limit - lower_spec_limit) / (6 * sigma_overall) end as pp,
        case when sigma_overall > 0
            then least((upper_spec_limit - mean_value) / (3 * sigma_overall),
                       (mean_value - lower_spec_limit) / (3 * sigma_overall)) end as ppk,
        case when sigma_overall > 0 and (upper_spec_limit is not null or lower_spec_limit is not null)
            then 1000000.0 * (
                coalesce({{ normal_survival('(upper_spec_limit - mean_value) / sigma_overall') }}, 0.0)
                + coalesce({{ normal_survival('(mean_value - lower_spec_limit) / sigma_overall') }}, 0.0)
            ) end as expected_ppm
    from sigmas
    left join control
        on sigmas.site_id = control.site_id
        and sigmas.line_id = control.line_id
        and sigmas.characteristic_id = control.characteristic_id
        and sigmas.week_start_date = control.week_start_date

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', site_id, line_id, characteristic_id, cast(week_start_date as string)) as string)
            as spc_capability_id,
        cast(site_id as string) as site_id,
        cast(line_id as string) as line_id,
        cast(characteristic_id as string) as characteristic_id,

        ---------- strings
        cast({{ iso_week_label('week_start_date') }} as string) as iso_week,
        cast(unit_of_measure as string) as unit_of_measure,
        cast(sigma_within_method as string) as sigma_within_method,
        cast(case
            when lower_spec_limit is not null and upper_spec_limit is not null then 'two_sided'
            when upper_spec_limit is not null then 'upper_only'
            when lower_spec_limit is not null then 'lower_only'
            else 'none'
        end as string) as spec_type,

        ---------- numerics
        cast(n_measurements as bigint) as n_measurements,
        cast(max_subgroup_size as int) as subgroup_size,
        cast(ranges_used as bigint) as ranges_used,
        cast(round(mean_value, 8) as double) as mean_value,
        cast(round(sigma_within, 8) as double) as sigma_within,
        cast(round(sigma_overall, 8) as double) as sigma_overall,
        cast(lower_spec_limit as double) as lower_spec_limit,
        cast(upper_spec_limit as double) as upper_spec_limit,
        cast(target_value as double) as target_value,
        cast(round(cp, 4) as double) as cp,
        cast(round(cpk, 4) as double) as cpk,
        cast(round(pp, 4) as double) as pp,
        cast(round(ppk, 4) as double) as ppk,
        cast(n_out_of_spec as bigint) as n_out_of_spec,
        cast(round(1000000.0 * n_out_of_spec / n_measurements, 3) as double) as observed_ppm,
        cast(round(expected_ppm, 3) as double) as expected_ppm,
        cast(round(case when expected_ppm is not null then {{ sigma_level_from_dpmo('expected_ppm') }} end, 4)
            as double) as sigma_level,
        cast(points_beyond_control_limits as bigint) as points_beyond_control_limits,

        ---------- booleans
        cast(n_measurements >= {{ var('capability_min_measurements') }} as boolean) as has_sufficient_data,
        cast(case when sigma_within > 0 then points_beyond_control_limits = 0 end as boolean) as is_in_control,

        ---------- dates
        cast(week_start_date as date) as week_start_date

    from indices

)

select * from final
