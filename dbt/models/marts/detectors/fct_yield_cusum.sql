-- Retest-aware tabular CUSUM on daily first-attempt fail rates, per station and per line
-- (docs/detectors.md). One row per monitored entity and UTC test day with first attempts.
--
-- A failed first attempt is a false fail (retest passed: the station) or a true fail (the unit:
-- the product or the process), as int_first_attempt_outcomes defines them; each gets its own
-- CUSUM.
--
-- Reference rate p0 of a day d: the entity's pooled rate over the days d - gap - W .. d - gap - 1
-- (W = var yield_baseline_days, gap = var yield_baseline_gap_days), a phase-I window that never
-- holds the day judged; a day is judged when that window holds at least var
-- yield_baseline_min_units first attempts. A window without a single fail gives p0 = 0.5 / units
-- (half a fail) so that sigma stays positive; p0 is capped at 0.5 (a station failing half its
-- units is not a baseline).
-- Standardised value (reported, not accumulated): z = (x / n - p0) / sqrt(p0 (1 - p0) / n).
-- Binomial (Bernoulli) CUSUM, the likelihood-ratio CUSUM for counts (Reynolds & Stoumbos 1999;
-- Montgomery 9.1 for the tabular form): a day with x fails in n first attempts adds
--   L = x ln(p1 / p0) + (n - x) ln((1 - p1) / (1 - p0)),  p1 = r p0 (r = var yield_cusum_rate_ratio,
-- the rise it is tuned to detect; p1 capped below 1), C_t = max(0, C_{t-1} + L_t), C_0 = 0,
-- computed without recursion as C_t = S_t - min(0, min_{j <= t} S_j) with S_t the running sum
-- of L (days not judged add 0). Signal when C_t > h (var yield_cusum_h). Exact for small counts,
-- where the normal approximation of z made a single fail among 40 units worth 2 sigma. No reset
-- after a signal: C falls back as the rate returns to p0.

{%- set baseline_days = var('yield_baseline_days') | int %}
{%- set gap_days = var('yield_baseline_gap_days') | int %}
{%- set r = var('yield_cusum_rate_ratio') | float %}
{%- set h = var('yield_cusum_h') | float %}

with

classified as (

    select
        site_id,
        line_id,
        station_id,
        tested_date,
        is_fail,
        is_false_fail
    from {{ ref('int_first_attempt_outcomes') }}

),

station_days as (

    select
        'station' as monitor_level,
        station_id as monitor_id,
        site_id,
        line_id,
        station_id,
        tested_date,
        count(*) as units_first_tested,
        sum(is_fail) as units_failed,
        sum(is_false_fail) as false_fails
    from classified
    group by site_id, line_id, station_id, tested_date

),

line_days as (

    select
        'line' as monitor_level,
        line_id as monitor_id,
        site_id,
        line_id,
        cast(null as string) as station_id,
        tested_date,
        sum(units_first_tested) as units_first_tested,
        sum(units_failed) as units_failed,
        sum(false_fails) as false_fails
    from station_days
    group by site_id, line_id, tested_date

),

entity_days as (

    select
        *,
        units_failed - false_fails as true_fails,
        datediff(tested_date, date '1970-01-01') as day_number
    from (
        select * from station_days
        union all
        select * from line_days
    ) unioned

),

baselines as (

    select
        entity_days.*,
        sum(units_first_tested) over baseline_window as baseline_units,
        sum(true_fails) over baseline_window as baseline_true_fails,
        sum(false_fails) over baseline_window as baseline_false_fails
    from entity_days
    window baseline_window as (
        partition by monitor_level, monitor_id
        order by day_number
        range between {{ baseline_days + gap_days }} preceding and {{ gap_days + 1 }} preceding
    )

),

reference_rates as (

    select
        *,
        case when baseline_units >= {{ var('yield_baseline_min_units') }}
            then least(greatest(baseline_true_fails, 0.5) / baseline_units, 0.5D) end as p0_true,
        case when baseline_units >= {{ var('yield_baseline_min_units') }}
            then least(greatest(baseline_false_fails, 0.5) / baseline_units, 0.5D) end as p0_false
    from baselines

),

standardised as (

    select
        *,
        (true_fails / units_first_tested - p0_true)
            / sqrt(p0_true * (1 - p0_true) / units_first_tested) as z_true,
        (false_fails / units_first_tested - p0_false)
            / sqrt(p0_false * (1 - p0_false) / units_first_tested) as z_false,
        true_fails * ln(least(cast({{ r }} as double) * p0_true, 0.999D) / p0_true)
            + (units_first_tested - true_fails) * ln((1 - least(cast({{ r }} as double) * p0_true, 0.999D)) / (1 - p0_true))
            as llr_true,
        false_fails * ln(least(cast({{ r }} as double) * p0_false, 0.999D) / p0_false)
            + (units_first_tested - false_fails) * ln((1 - least(cast({{ r }} as double) * p0_false, 0.999D)) / (1 - p0_false))
            as llr_false
    from reference_rates

),

running as (

    select
        *,
        sum(coalesce(llr_true, 0.0)) over running_window as s_true,
        sum(coalesce(llr_false, 0.0)) over running_window as s_false
    from standardised
    window running_window as (
        partition by monitor_level, monitor_id order by day_number
        rows between unbounded preceding and current row
    )

),

cusums as (

    select
        *,
        case when z_true is not null then s_true - least(0.0, min(s_true) over running_window) end as cusum_true,
        case when z_false is not null then s_false - least(0.0, min(s_false) over running_window) end as cusum_false
    from running
    window running_window as (
        partition by monitor_level, monitor_id order by day_number
        rows between unbounded preceding and current row
    )

),

excursions as (

    -- an excursion is a run of days with C > 0; it starts after the last day with C = 0
    select
        *,
        count(case when coalesce(cusum_true, 0.0) <= 0 then 1 end) over running_window as true_run,
        count(case when coalesce(cusum_false, 0.0) <= 0 then 1 end) over running_window as false_run
    from cusums
    window running_window as (
        partition by monitor_level, monitor_id order by day_number
        rows between unbounded preceding and current row
    )

),

flagged as (

    select
        *,
        -- a run holds its zero day (if any) and the positive days after it
        case when cusum_true > 0 then min(case when cusum_true > 0 then tested_date end) over (
            partition by monitor_level, monitor_id, true_run) end as true_fail_excursion_start_date,
        case when cusum_false > 0 then min(case when cusum_false > 0 then tested_date end) over (
            partition by monitor_level, monitor_id, false_run) end as false_fail_excursion_start_date,
        coalesce(cusum_true > {{ h }}, false) as is_true_fail_signal,
        coalesce(cusum_false > {{ h }}, false) as is_false_fail_signal,
        case when monitor_level = 'station' then concat('Station ', station_id) else concat('Line ', line_id) end
            as entity_label
    from excursions

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', monitor_level, monitor_id, cast(tested_date as string)) as string) as yield_cusum_id,
        cast(monitor_id as string) as monitor_id,
        cast(site_id as string) as site_id,
        cast(line_id as string) as line_id,
        cast(station_id as string) as station_id,

        ---------- strings
        cast(monitor_level as string) as monitor_level,
        cast(case
            when is_false_fail_signal or is_true_fail_signal then concat_ws(' ',
                case when is_false_fail_signal then concat(entity_label, ': false fails (failed first attempts that ',
                    'passed their retest) ', false_fails, ' of ', units_first_tested, ' units (',
                    format_number(100.0 * false_fails / units_first_tested, 1), ' %) against a baseline of ',
                    format_number(100.0 * p0_false, 2), ' %; CUSUM ', format_number(cusum_false, 2), ' > ',
                    '{{ h }}', ' since ', false_fail_excursion_start_date,
                    case when monitor_level = 'station' then ': check the station (fixture, probes, cables).'
                        else ': check the testers of the line (fixtures, probes, cables).' end) end,
                case when is_true_fail_signal then concat(entity_label, ': true fails (confirmed by retest, ',
                    'rework or scrap) ', true_fails, ' of ', units_first_tested, ' units (',
                    format_number(100.0 * true_fails / units_first_tested, 1), ' %) against a baseline of ',
                    format_number(100.0 * p0_true, 2), ' %; CUSUM ', format_number(cusum_true, 2), ' > ',
                    '{{ h }}', ' since ', true_fail_excursion_start_date,
                    ': check the product and the process (material lots, line set-up).') end)
        end as string) as description,

        ---------- numerics
        cast(units_first_tested as bigint) as units_first_tested,
        cast(units_failed as bigint) as units_failed,
        cast(true_fails as bigint) as true_fails,
        cast(false_fails as bigint) as false_fails,
        cast(baseline_units as bigint) as baseline_units,
        cast(round(p0_true, 8) as double) as p0_true,
        cast(round(p0_false, 8) as double) as p0_false,
        cast(round(z_true, 6) as double) as z_true,
        cast(round(z_false, 6) as double) as z_false,
        cast(round(cusum_true, 6) as double) as cusum_true,
        cast(round(cusum_false, 6) as double) as cusum_false,

        ---------- booleans
        cast(z_true is not null as boolean) as is_judged,
        cast(is_true_fail_signal as boolean) as is_true_fail_signal,
        cast(is_false_fail_signal as boolean) as is_false_fail_signal,

        ---------- dates
        cast(tested_date as date) as tested_date,
        cast(true_fail_excursion_start_date as date) as true_fail_excursion_start_date,
        cast(false_fail_excursion_start_date as date) as false_fail_excursion_start_date

    from flagged

)

select * from final
