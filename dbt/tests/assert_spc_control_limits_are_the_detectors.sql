-- The SPC chart's control limits (fct_spc_control_limits) are the detector's
-- (fct_spc_rule_violations): every violation's centre line (and, with the moving-range sigma,
-- its sigma) is the one of its first point's day, and, when Nelson rule 1 runs, every chart-day
-- has exactly as many points beyond the limits as the detector found rule 1 violations.
-- Returns the disagreements (none expected).

{%- set rule_one_runs = 1 in (var('spc_rules_enabled') | map('int') | list) %}

with

limits as (

    select * from {{ ref('fct_spc_control_limits') }}

),

violations as (

    select * from {{ ref('fct_spc_rule_violations') }}

),

limit_mismatches as (

    select
        violations.spc_violation_id as failing_id,
        'limits differ from the detector''s' as reason
    from violations
    left join limits
        on violations.site_id = limits.site_id
        and violations.line_id = limits.line_id
        and violations.characteristic_id = limits.characteristic_id
        and violations.first_point_date = limits.point_date
    where limits.centre_line is null
        or abs(limits.centre_line - violations.centre_line) > 1e-6
        {%- if var('spc_sigma_method') == 'moving_range' %}
        or abs(limits.sigma - violations.sigma) > 1e-6
        {%- endif %}

),

rule_one_days as (

    select
        site_id,
        line_id,
        characteristic_id,
        first_point_date as point_date,
        count(*) as rule_one_violations
    from violations
    where rule_number = 1
    group by site_id, line_id, characteristic_id, first_point_date

),

rule_one_mismatches as (

    select
        coalesce(limits.spc_chart_day_id, rule_one_days.characteristic_id) as failing_id,
        'points beyond the limits differ from the rule 1 violations' as reason
    from limits
    full outer join rule_one_days
        on limits.site_id = rule_one_days.site_id
        and limits.line_id = rule_one_days.line_id
        and limits.characteristic_id = rule_one_days.characteristic_id
        and limits.point_date = rule_one_days.point_date
    where {{ 'true' if rule_one_runs else 'false' }}
        and coalesce(limits.points_above_ucl + limits.points_below_lcl, 0)
            != coalesce(rule_one_days.rule_one_violations, 0)

)

select * from limit_mismatches
union all
select * from rule_one_mismatches
