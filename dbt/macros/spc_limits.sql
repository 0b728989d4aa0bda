{#-
  The phase-I control limits of every SPC chart (site / line / characteristic), shared by the
  detector (fct_spc_rule_violations) and the chart of points against its limits
  (fct_spc_control_limits), so both use exactly the same limits (docs/detectors.md).

  Emits the CTEs subgroups, points, daily, baselines, limits and judged (each followed by a
  comma) over a CTE named `measurements` (site_id, line_id, characteristic_id, subgroup_id,
  unit_of_measure, measured_value, measured_at). judged: one row per plotted point (subgroup)
  with point_index, point_value, centre_line, point_sigma, its baseline and z (null when the
  point is not judged: fewer than var spc_baseline_min_points baseline points or sigma 0).
-#}
{% macro spc_phase_one_limit_ctes() -%}
{%- set baseline_days = var('spc_baseline_days') | int %}
{%- set gap_days = var('spc_baseline_gap_days') | int %}
{%- set sigma_method = var('spc_sigma_method') %}
{%- if sigma_method not in ['moving_range', 'within'] %}
    {{ exceptions.raise_compiler_error("var spc_sigma_method must be moving_range or within, not " ~ sigma_method) }}
{%- endif %}
subgroups as (

    select
        site_id,
        line_id,
        characteristic_id,
        subgroup_id,
        max(unit_of_measure) as unit_of_measure,
        min(measured_at) as point_at,
        count(*) as subgroup_size,
        avg(measured_value) as point_value,
        max(measured_value) - min(measured_value) as subgroup_range
    from measurements
    group by site_id, line_id, characteristic_id, subgroup_id

),

points as (

    select
        subgroups.*,
        cast(point_at as date) as point_date,
        datediff(cast(point_at as date), date '1970-01-01') as day_number,
        row_number() over chart_order as point_index,
        lag(point_value) over chart_order as previous_value,
        lag(point_value, 2) over chart_order as second_previous_value,
        max(subgroup_size) over (partition by site_id, line_id, characteristic_id) as chart_subgroup_size
    from subgroups
    window chart_order as (partition by site_id, line_id, characteristic_id order by point_at, subgroup_id)

),

daily as (

    select
        site_id,
        line_id,
        characteristic_id,
        day_number,
        count(*) as day_points,
        sum(point_value) as day_value_sum,
        sum(abs(point_value - previous_value)) as day_moving_range_sum,
        count(previous_value) as day_moving_ranges,
        sum(case when subgroup_size between 2 and 10
            then subgroup_range / {{ d2_constant('subgroup_size') }} end) as day_sigma_within_sum,
        count(case when subgroup_size between 2 and 10 then 1 end) as day_sigma_within_subgroups
    from points
    group by site_id, line_id, characteristic_id, day_number

),

baselines as (

    select
        site_id,
        line_id,
        characteristic_id,
        day_number,
        sum(day_points) over baseline_window as baseline_points,
        sum(day_value_sum) over baseline_window / sum(day_points) over baseline_window as centre_line,
        sum(day_moving_range_sum) over baseline_window
            / sum(day_moving_ranges) over baseline_window / 1.128 as sigma_moving_range,
        sum(day_sigma_within_sum) over baseline_window
            / sum(day_sigma_within_subgroups) over baseline_window as sigma_within,
        min(day_number) over baseline_window as baseline_first_day,
        max(day_number) over baseline_window as baseline_last_day
    from daily
    window baseline_window as (
        partition by site_id, line_id, characteristic_id
        order by day_number
        range between {{ baseline_days + gap_days }} preceding and {{ gap_days + 1 }} preceding
    )

),

limits as (

    select
        points.*,
        baselines.baseline_points,
        baselines.centre_line,
        date_add(date '1970-01-01', baselines.baseline_first_day) as baseline_start_date,
        date_add(date '1970-01-01', baselines.baseline_last_day) as baseline_end_date,
        {% if sigma_method == 'within' -%}
        case
            when points.chart_subgroup_size >= 2 then baselines.sigma_within / sqrt(points.subgroup_size)
            else baselines.sigma_moving_range
        end
        {%- else -%}
        baselines.sigma_moving_range
        {%- endif %} as point_sigma
    from points
    left join baselines
        on points.site_id = baselines.site_id
        and points.line_id = baselines.line_id
        and points.characteristic_id = baselines.characteristic_id
        and points.day_number = baselines.day_number

),

judged as (

    select
        *,
        case
            when baseline_points >= {{ var('spc_baseline_min_points') }} and point_sigma > 0
                then (point_value - centre_line) / point_sigma
        end as z
    from limits

),

{%- endmacro %}
