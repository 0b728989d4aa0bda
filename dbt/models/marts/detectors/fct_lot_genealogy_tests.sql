-- Lot test through genealogy (docs/detectors.md): does a supplier lot make the units built with
-- it fail more often than the same part's other lots do? One row per supplier lot and UTC test day
-- on which units built with the lot had first attempts at a route station.
--
-- Counted per first attempt (int_first_attempt_outcomes), true fails only: a false fail (failed,
-- retested without repair, passed) says something about the tester, not about the material, so
-- a tester fault does not implicate the lots that happened to be in use.
--
-- Reference rate of a lot on day d: the true-fail rate of the first attempts of units built with
-- the part's OTHER lots over the days d - W + 1 .. d (W = var lot_test_reference_days; the lot's
-- own attempts are subtracted from the part's), judged when that holds at least var
-- lot_test_min_reference_attempts attempts; without a single fail the rate is 0.5 / attempts.
-- Exposure: the expected true fails of the day are the lot's attempts x the reference rate;
-- observed and expected are added up over the lot's judged days so far (cumulative evidence).
-- Test: exact one-sided Poisson, p = P(X >= observed | expected) (macro poisson_upper_tail);
-- signal when p < var lot_test_alpha and at least var lot_test_min_fails true fails were seen.
--
-- Known limit: a line problem (a drift) raises the fails of every lot used on that line at the
-- time; when a part's other lots are used elsewhere, the lot test points at the material too.
-- The yield CUSUM of the line tells the two apart (both are features of the models).

{%- set window_days = var('lot_test_reference_days') | int %}
{%- set alpha = var('lot_test_alpha') | float %}

with

outcomes as (

    select
        serial_number,
        tested_date,
        is_true_fail
    from {{ ref('int_first_attempt_outcomes') }}

),

lot_units as (

    select distinct
        serial_number,
        supplier_lot_id,
        supplier_id,
        part_id
    from {{ ref('stg_mes__unit_genealogies') }}
    where supplier_lot_id is not null

),

lot_days as (

    select
        lot_units.supplier_lot_id,
        max(lot_units.supplier_id) as supplier_id,
        max(lot_units.part_id) as part_id,
        outcomes.tested_date,
        datediff(outcomes.tested_date, date '1970-01-01') as day_number,
        count(*) as first_attempts,
        sum(outcomes.is_true_fail) as true_fails
    from lot_units
    inner join outcomes
        on lot_units.serial_number = outcomes.serial_number
    group by lot_units.supplier_lot_id, outcomes.tested_date

),

part_days as (

    select
        part_id,
        tested_date,
        day_number,
        sum(first_attempts) as part_attempts,
        sum(true_fails) as part_true_fails
    from lot_days
    group by part_id, tested_date, day_number

),

part_windows as (

    select
        part_id,
        tested_date,
        sum(part_attempts) over reference_window as part_attempts_window,
        sum(part_true_fails) over reference_window as part_true_fails_window
    from part_days
    window reference_window as (
        partition by part_id order by day_number
        range between {{ window_days - 1 }} preceding and current row
    )

),

lot_windows as (

    select
        lot_days.*,
        sum(first_attempts) over reference_window as lot_attempts_window,
        sum(true_fails) over reference_window as lot_true_fails_window
    from lot_days
    window reference_window as (
        partition by supplier_lot_id order by day_number
        range between {{ window_days - 1 }} preceding and current row
    )

),

reference_counts as (

    select
        lot_windows.*,
        part_windows.part_attempts_window - lot_windows.lot_attempts_window as reference_attempts,
        part_windows.part_true_fails_window - lot_windows.lot_true_fails_window as reference_true_fails
    from lot_windows
    inner join part_windows
        on lot_windows.part_id = part_windows.part_id
        and lot_windows.tested_date = part_windows.tested_date

),

reference_rates as (

    select
        *,
        case when reference_attempts >= {{ var('lot_test_min_reference_attempts') }}
            then greatest(reference_true_fails, 0.5) / reference_attempts end as reference_rate
    from reference_counts

),

cumulative as (

    select
        *,
        sum(first_attempts) over lot_so_far as attempts_so_far,
        sum(true_fails) over lot_so_far as true_fails_so_far,
        sum(case when reference_rate is not null then first_attempts else 0 end) over lot_so_far
            as judged_attempts,
        sum(case when reference_rate is not null then true_fails else 0 end) over lot_so_far
            as judged_true_fails,
        sum(coalesce(first_attempts * reference_rate, 0.0)) over lot_so_far as expected_true_fails
    from reference_rates
    window lot_so_far as (
        partition by supplier_lot_id order by day_number
        rows between unbounded preceding and current row
    )

),

tested as (

    select
        *,
        case when judged_attempts > 0
            then {{ poisson_upper_tail('judged_true_fails', 'expected_true_fails') }} end as p_value
    from cumulative

),

flagged as (

    select
        *,
        coalesce(judged_true_fails >= {{ var('lot_test_min_fails') }} and p_value < {{ alpha }}, false)
            as is_signal
    from tested

),

dated as (

    select
        *,
        min(case when is_signal then tested_date end) over (
            partition by supplier_lot_id order by day_number
            rows between unbounded preceding and current row
        ) as first_signal_date
    from flagged

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', supplier_lot_id, cast(tested_date as string)) as string) as lot_test_id,
        cast(supplier_lot_id as string) as supplier_lot_id,
        cast(supplier_id as string) as supplier_id,
        cast(part_id as string) as part_id,

        ---------- strings
        cast(case when is_signal then concat(
            'Lot ', supplier_lot_id, ' of ', part_id, ' from ', supplier_id, ': ', judged_true_fails,
            ' true fails in ', judged_attempts, ' first tests of units built with it (',
            format_number(100.0 * judged_true_fails / judged_attempts, 2), ' %) where the part''s other lots ',
            'give ', format_number(expected_true_fails, 1), ' (', format_number(100.0 * reference_rate, 2),
            ' % lately); p = ', format_string('%.1e', p_value), ', signalling since ', first_signal_date,
            ': quarantine the lot''s remaining stock and ask ', supplier_id, ' for its analysis.'
        ) end as string) as description,

        ---------- numerics
        cast(first_attempts as bigint) as first_attempts,
        cast(true_fails as bigint) as true_fails,
        cast(reference_attempts as bigint) as reference_attempts,
        cast(reference_true_fails as bigint) as reference_true_fails,
        cast(round(reference_rate, 8) as double) as reference_rate,
        cast(attempts_so_far as bigint) as attempts_so_far,
        cast(true_fails_so_far as bigint) as true_fails_so_far,
        cast(judged_attempts as bigint) as judged_attempts,
        cast(judged_true_fails as bigint) as judged_true_fails,
        cast(round(expected_true_fails, 6) as double) as expected_true_fails,
        cast(p_value as double) as p_value,

        ---------- booleans
        cast(reference_rate is not null as boolean) as is_judged,
        cast(is_signal as boolean) as is_signal,

        ---------- dates
        cast(tested_date as date) as tested_date,
        cast(first_signal_date as date) as first_signal_date

    from dated

)

select * from final
