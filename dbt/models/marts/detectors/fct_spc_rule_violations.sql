-- Nelson rules 1-8 on every SPC chart, one row per violation (docs/detectors.md).
--
-- Chart: one per site / line / characteristic. Its points are the subgroups in time order: the
-- subgroup mean (X-bar chart) when the characteristic is measured in subgroups, the single value
-- (individuals chart) when every subgroup holds one measurement.
--
-- Phase-I limits, never from the points judged: the centre line and sigma of a point on day d
-- come from the chart's own points on the days d - gap - W .. d - gap - 1
-- (W = var spc_baseline_days, gap = var spc_baseline_gap_days), a lagged window that follows
-- slow, benign change but does not contain the days it judges. A point is judged only when its
-- baseline holds at least var spc_baseline_min_points points and a positive sigma.
--   centre line: mean of the baseline points;
--   sigma of a point (var spc_sigma_method):
--     moving_range (default): MR-bar / 1.128 of consecutive baseline points (the individuals
--       chart's estimator, applied to the plotted points, so between-subgroup variation that
--       is part of the normal process widens the limits instead of raising alarms);
--     within: the textbook X-bar sigma, mean(R_i / d2(n_i)) / sqrt(n) over baseline subgroups
--       of 2..10 (individuals charts fall back to MR-bar / 1.128).
--
-- Rules (z = (x - centre) / sigma; var spc_rules_enabled lists the rules that run):
--   1 one point beyond 3 sigma            2 nine in a row on one side of the centre line
--   3 six in a row steadily up or down    4 fourteen in a row alternating up and down
--   5 two of three beyond 2 sigma, same side (the completing point beyond)
--   6 four of five beyond 1 sigma, same side (the completing point beyond)
--   7 fifteen in a row within 1 sigma     8 eight in a row, none within 1 sigma (either side)
-- A pattern is searched in the window of points ending at each point; every point of the window
-- must be judged. Windows of one rule and direction that overlap form one violation: first point
-- = start of the first pattern (for rules 5 and 6 its first point beyond the zone), last point =
-- the point completing the last pattern. A point exactly on the centre line, or equal to its
-- predecessor, breaks rules 2, 3 and 4.

{%- set rules_enabled = var('spc_rules_enabled') %}
{#- The points and their phase-I limits: macro spc_phase_one_limit_ctes (macros/spc_limits.sql),
    shared with fct_spc_control_limits. -#}
{%- set chart_order = 'partition by site_id, line_id, characteristic_id order by point_index' %}

{#- One entry per rule and direction: hit = the point-level condition, window = rows searched,
    hits = hits needed in the window, points = points the pattern spans (all judged),
    last_hit = the completing point must hit, start_at_hit = the pattern starts at its first hit. -#}
{%- set patterns = [
    {'rule': 1, 'direction': 'above', 'hit': 'z > 3', 'window': 1, 'hits': 1, 'points': 1},
    {'rule': 1, 'direction': 'below', 'hit': 'z < -3', 'window': 1, 'hits': 1, 'points': 1},
    {'rule': 2, 'direction': 'above', 'hit': 'z > 0', 'window': 9, 'hits': 9, 'points': 9},
    {'rule': 2, 'direction': 'below', 'hit': 'z < 0', 'window': 9, 'hits': 9, 'points': 9},
    {'rule': 3, 'direction': 'increasing', 'hit': 'point_value > previous_value', 'window': 5, 'hits': 5, 'points': 6},
    {'rule': 3, 'direction': 'decreasing', 'hit': 'point_value < previous_value', 'window': 5, 'hits': 5, 'points': 6},
    {'rule': 4, 'direction': 'alternating', 'hit': '(point_value - previous_value) * (previous_value - second_previous_value) < 0', 'window': 12, 'hits': 12, 'points': 14},
    {'rule': 5, 'direction': 'above', 'hit': 'z > 2', 'window': 3, 'hits': 2, 'points': 3, 'last_hit': true, 'start_at_hit': true},
    {'rule': 5, 'direction': 'below', 'hit': 'z < -2', 'window': 3, 'hits': 2, 'points': 3, 'last_hit': true, 'start_at_hit': true},
    {'rule': 6, 'direction': 'above', 'hit': 'z > 1', 'window': 5, 'hits': 4, 'points': 5, 'last_hit': true, 'start_at_hit': true},
    {'rule': 6, 'direction': 'below', 'hit': 'z < -1', 'window': 5, 'hits': 4, 'points': 5, 'last_hit': true, 'start_at_hit': true},
    {'rule': 7, 'direction': 'within', 'hit': 'abs(z) < 1', 'window': 15, 'hits': 15, 'points': 15},
    {'rule': 8, 'direction': 'outside', 'hit': 'abs(z) > 1', 'window': 8, 'hits': 8, 'points': 8},
] | selectattr('rule', 'in', rules_enabled | map('int') | list) | list %}

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

{%- if not patterns %}
    {{ exceptions.raise_compiler_error("var spc_rules_enabled lists no Nelson rule (1..8)") }}
{%- endif %}

hits as (

    select
        judged.*,
        {%- for p in patterns %}
        coalesce({{ p.hit }}, false) as hit_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    from judged

),

windows as (

    -- every pattern's window ending at every point, in one pass over each chart
    select
        hits.*,
        {%- for p in patterns %}
        count(z) over ({{ chart_order }} rows between {{ p.points - 1 }} preceding and current row) = {{ p.points }}
            and sum(cast(hit_{{ loop.index }} as int)) over ({{ chart_order }} rows between {{ p.window - 1 }} preceding and current row) >= {{ p.hits }}
            {%- if p.get('last_hit') %} and hit_{{ loop.index }}{% endif %} as signal_{{ loop.index }},
        {%- if p.get('start_at_hit') %}
        min(case when hit_{{ loop.index }} then point_index end) over ({{ chart_order }} rows between {{ p.window - 1 }} preceding and current row)
        {%- else %}
        point_index - {{ p.points - 1 }}
        {%- endif %} as start_{{ loop.index }},
        sum(cast(hit_{{ loop.index }} as int)) over ({{ chart_order }} rows between unbounded preceding and current row)
            as cumulative_hits_{{ loop.index }},
        sum(cast(hit_{{ loop.index }} as int)) over ({{ chart_order }} rows between {{ p.points - 1 }} preceding and current row)
            as window_hits_{{ loop.index }},
        {%- if p.get('start_at_hit') %}
        min(case when hit_{{ loop.index }} then point_value end) over ({{ chart_order }} rows between {{ p.window - 1 }} preceding and current row) as window_min_{{ loop.index }},
        max(case when hit_{{ loop.index }} then point_value end) over ({{ chart_order }} rows between {{ p.window - 1 }} preceding and current row) as window_max_{{ loop.index }}{{ ',' if not loop.last }}
        {%- else %}
        min(point_value) over ({{ chart_order }} rows between {{ p.points - 1 }} preceding and current row) as window_min_{{ loop.index }},
        max(point_value) over ({{ chart_order }} rows between {{ p.points - 1 }} preceding and current row) as window_max_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from hits

),

signals as (

    -- one row per (point, rule, direction) that completes a pattern
    select
        site_id,
        line_id,
        characteristic_id,
        signal.rule_number,
        signal.direction,
        point_index,
        signal.pattern_start_index,
        signal.cumulative_hits,
        signal.window_hits,
        signal.window_min,
        signal.window_max
    from (
        select
            windows.*,
            explode(array(
                {%- for p in patterns %}
                named_struct(
                    'rule_number', {{ p.rule }},
                    'direction', '{{ p.direction }}',
                    'is_signal', signal_{{ loop.index }},
                    'pattern_start_index', start_{{ loop.index }},
                    'cumulative_hits', cumulative_hits_{{ loop.index }},
                    'window_hits', window_hits_{{ loop.index }},
                    'window_min', window_min_{{ loop.index }},
                    'window_max', window_max_{{ loop.index }}
                ){{ ',' if not loop.last }}
                {%- endfor %}
            )) as signal
        from windows
        where {% for p in patterns %}signal_{{ loop.index }}{{ ' or ' if not loop.last }}{% endfor %}
    ) exploded
    where signal.is_signal

),

episode_starts as (

    -- overlapping patterns of one rule and direction are one violation
    select
        signals.*,
        case
            when pattern_start_index > coalesce(lag(point_index) over episode_order, -1) then 1 else 0
        end as is_new_violation
    from signals
    window episode_order as (
        partition by site_id, line_id, characteristic_id, rule_number, direction order by point_index
    )

),

numbered as (

    select
        *,
        sum(is_new_violation) over (
            partition by site_id, line_id, characteristic_id, rule_number, direction
            order by point_index rows between unbounded preceding and current row
        ) as violation_number
    from episode_starts

),

violations as (

    select
        site_id,
        line_id,
        characteristic_id,
        rule_number,
        direction,
        min(pattern_start_index) as first_point_index,
        max(point_index) as last_point_index,
        min(window_min) as min_value,
        max(window_max) as max_value,
        -- hit points in the union of the overlapping windows: hits up to the last completing
        -- point minus the hits before the first window
        max(cumulative_hits) - min_by(cumulative_hits - window_hits, point_index) as pattern_hits
    from numbered
    group by site_id, line_id, characteristic_id, rule_number, direction, violation_number

),

described as (

    select
        violations.*,
        first_point.subgroup_id as first_subgroup_id,
        first_point.point_at as first_point_at,
        first_point.point_date as first_point_date,
        last_point.subgroup_id as last_subgroup_id,
        last_point.point_at as last_point_at,
        last_point.point_date as last_point_date,
        first_point.point_value as first_value,
        last_point.point_value as last_value,
        first_point.unit_of_measure,
        first_point.chart_subgroup_size,
        first_point.centre_line,
        first_point.point_sigma as sigma,
        first_point.baseline_points,
        first_point.baseline_start_date,
        first_point.baseline_end_date,
        last_point_index - first_point_index + 1 as points_in_violation
    from violations
    inner join judged as first_point
        on violations.site_id = first_point.site_id
        and violations.line_id = first_point.line_id
        and violations.characteristic_id = first_point.characteristic_id
        and violations.first_point_index = first_point.point_index
    inner join judged as last_point
        on violations.site_id = last_point.site_id
        and violations.line_id = last_point.line_id
        and violations.characteristic_id = last_point.characteristic_id
        and violations.last_point_index = last_point.point_index

),

worded as (

    select
        described.*,
        -- rules 5 and 6: the points beyond the zone between the first and the last point
        pattern_hits as points_beyond_zone,
        concat(characteristic_id, ' (', coalesce(unit_of_measure, 'no unit'), ')') as characteristic_label,
        format_number(centre_line, 4) as centre_text,
        format_number(sigma, 4) as sigma_text,
        concat(format_number(min_value, 4), ' to ', format_number(max_value, 4), ' ', unit_of_measure) as range_text
    from described

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', site_id, line_id, characteristic_id, cast(rule_number as string), direction,
                       cast(first_point_index as string)) as string) as spc_violation_id,
        cast(site_id as string) as site_id,
        cast(line_id as string) as line_id,
        cast(characteristic_id as string) as characteristic_id,
        cast(first_subgroup_id as string) as first_subgroup_id,
        cast(last_subgroup_id as string) as last_subgroup_id,

        ---------- strings
        cast(case when chart_subgroup_size >= 2 then 'xbar' else 'individuals' end as string) as chart_type,
        cast(unit_of_measure as string) as unit_of_measure,
        cast(direction as string) as direction,
        cast(concat('Nelson rule ', rule_number, ': ', case rule_number
            when 1 then concat('a point ', format_number(abs(first_value - centre_line) / sigma, 1),
                ' sigma ', direction, ' the centre line (', format_number(first_value, 4), ' ', unit_of_measure,
                ', control limit ', format_number(centre_line + (case when direction = 'above' then 3 else -3 end) * sigma, 4),
                ')')
            when 2 then concat(points_in_violation, ' points in a row ', direction, ' the centre line ', centre_text,
                ' (values ', range_text, '): the process mean has shifted')
            when 3 then concat(points_in_violation, ' points in a row steadily ', direction, ' (',
                format_number(first_value, 4), ' to ', format_number(last_value, 4), ' ', unit_of_measure,
                '): a trend such as tool wear or drift')
            when 4 then concat(points_in_violation, ' points in a row alternating up and down (values ', range_text,
                '): over-adjustment or two alternating sources')
            when 5 then concat(points_beyond_zone, ' of ', points_in_violation, ' consecutive points more than 2 sigma ',
                direction, ' the centre line ', centre_text, ' (beyond ',
                format_number(centre_line + (case when direction = 'above' then 2 else -2 end) * sigma, 4),
                '; values ', range_text, '): a shift of the mean')
            when 6 then concat(points_beyond_zone, ' of ', points_in_violation, ' consecutive points more than 1 sigma ',
                direction, ' the centre line ', centre_text, ' (beyond ',
                format_number(centre_line + (case when direction = 'above' then 1 else -1 end) * sigma, 4),
                '; values ', range_text, '): a small shift of the mean')
            when 7 then concat(points_in_violation, ' points in a row within 1 sigma of the centre line ', centre_text,
                ' (values ', range_text, '): less variation than the baseline (stratified sampling or limits too wide)')
            when 8 then concat(points_in_violation, ' points in a row more than 1 sigma from the centre line ',
                centre_text, ', none within 1 sigma (values ', range_text, '): a mixture of two processes')
        end, '. Chart ', characteristic_label, ' on ', line_id, ': centre ', centre_text, ', sigma ', sigma_text,
            ' from ', baseline_points, ' points of ', baseline_start_date, ' to ', baseline_end_date, '.') as string)
            as description,

        ---------- numerics
        cast(rule_number as int) as rule_number,
        cast(first_point_index as bigint) as first_point_index,
        cast(last_point_index as bigint) as last_point_index,
        cast(points_in_violation as bigint) as points_in_violation,
        cast(case when rule_number in (5, 6) then points_beyond_zone end as bigint) as points_beyond_zone,
        cast(round(first_value, 8) as double) as first_value,
        cast(round(last_value, 8) as double) as last_value,
        cast(round(min_value, 8) as double) as min_value,
        cast(round(max_value, 8) as double) as max_value,
        cast(round(centre_line, 8) as double) as centre_line,
        cast(round(sigma, 8) as double) as sigma,
        cast(baseline_points as bigint) as baseline_points,

        ---------- dates
        cast(first_point_date as date) as first_point_date,
        cast(last_point_date as date) as last_point_date,
        cast(baseline_start_date as date) as baseline_start_date,
        cast(baseline_end_date as date) as baseline_end_date,

        ---------- timestamps
        cast(first_point_at as timestamp) as first_point_at,
        cast(last_point_at as timestamp) as last_point_at

    from worded

)

select * from final
