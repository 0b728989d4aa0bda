-- The control limits of every SPC chart (site / line / characteristic) per day, with the day's
-- plotted points: what an SPC chart of a characteristic draws (docs/detectors.md, docs/bi.md).
--
-- The limits are the detector's (fct_spc_rule_violations), computed by the same macro
-- (spc_phase_one_limit_ctes): phase I, from the chart's own points of the lagged baseline window
-- (spc_baseline_days days ending spc_baseline_gap_days days before the day), never from the
-- points judged, and never the spec limits. centre_line = mean of the baseline points,
-- ucl / lcl = centre_line +- 3 sigma of the plotted points (var spc_sigma_method). A day whose
-- baseline is too short (fewer than spc_baseline_min_points points) or has no spread is not
-- judged: its limits are null.
-- points_above_ucl / points_below_lcl count the day's points beyond the limits: the detector's
-- Nelson rule 1.

with

measurements as (

    select
        site_id,
        line_id,
        characteristic_id,
        subgroup_id,
        unit_of_measure,
        measured_value,
        measured_at
    from {{ ref('stg_spc__measurements') }}

),

{{ spc_phase_one_limit_ctes() }}

daily_limits as (

    select
        site_id,
        line_id,
        characteristic_id,
        point_date,
        max(unit_of_measure) as unit_of_measure,
        max(chart_subgroup_size) as chart_subgroup_size,
        count(*) as points,
        count(z) as points_judged,
        avg(point_value) as mean_value,
        min(point_value) as min_value,
        max(point_value) as max_value,
        -- the centre line and the baseline are the day's (one baseline per chart and day); sigma
        -- too with moving_range, with `within` it depends on the subgroup size: the day's mean
        max(case when z is not null then centre_line end) as centre_line,
        avg(case when z is not null then point_sigma end) as sigma,
        max(baseline_points) as baseline_points,
        max(baseline_start_date) as baseline_start_date,
        max(baseline_end_date) as baseline_end_date,
        count(case when z > 3 then 1 end) as points_above_ucl,
        count(case when z < -3 then 1 end) as points_below_lcl
    from judged
    group by site_id, line_id, characteristic_id, point_date

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', site_id, line_id, characteristic_id, cast(point_date as string)) as string)
            as spc_chart_day_id,
        cast(site_id as string) as site_id,
        cast(line_id as string) as line_id,
        cast(characteristic_id as string) as characteristic_id,

        ---------- strings
        cast(case when chart_subgroup_size >= 2 then 'xbar' else 'individuals' end as string) as chart_type,
        cast(unit_of_measure as string) as unit_of_measure,

        ---------- numerics
        cast(points as bigint) as points,
        cast(points_judged as bigint) as points_judged,
        cast(round(mean_value, 8) as double) as mean_value,
        cast(round(min_value, 8) as double) as min_value,
        cast(round(max_value, 8) as double) as max_value,
        cast(round(centre_line, 8) as double) as centre_line,
        cast(round(sigma, 8) as double) as sigma,
        cast(round(centre_line + 3 * sigma, 8) as double) as ucl,
        cast(round(centre_line - 3 * sigma, 8) as double) as lcl,
        cast(baseline_points as bigint) as baseline_points,
        cast(points_above_ucl as bigint) as points_above_ucl,
        cast(points_below_lcl as bigint) as points_below_lcl,

        ---------- booleans
        cast(points_judged > 0 as boolean) as is_judged,

        ---------- dates
        cast(point_date as date) as point_date,
        cast(baseline_start_date as date) as baseline_start_date,
        cast(baseline_end_date as date) as baseline_end_date

    from daily_limits

)

select * from final
