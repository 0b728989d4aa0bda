-- Lot test through genealogy (docs/detectors.md): does a supplier lot make the units built with
-- it fail more often than the same part's other lots do? One row per supplier lot and UTC test day
-- on which units built with the lot had first attempts at a route station.
--
-- Counted per first attempt (int_first_attempt_outcomes, per lot: fct_lot_unit_outcomes), true
-- fails only: a false fail (failed,
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
-- Explaining away (a second pass): a unit holds one lot of every part, so a defective lot makes
-- the lots of OTHER parts built into the same units fail more often too, and the first pass
-- flags them as well (the "raw" signal). Two pieces of evidence come out of it:
-- * adjusted_* columns: a unit's prime suspect is the first of its lots to raw-signal (same day:
--   the smaller p-value); from that day on the unit stops counting as evidence against the other
--   lots in it, including the units already counted (observed, expected and p-value without those
--   units), while the prime suspect keeps it;
-- * explained_by_lot_id, pairwise: a raw-signalling lot L is explained by a raw-signalling lot M
--   it shares units with when, as of the day, L's evidence without the shared units (its
--   remainder) no longer signals while M's remainder still does: the shared units' fails are M's.
--   Two lots whose remainders both signal, or neither does (always built together), cannot be
--   told apart: both stay flagged. Unlike the prime suspect, this never takes a defective lot's
--   evidence away because an innocent co-built lot happened to signal first.
-- With var lot_test_explain_away (default false: measured in docs/detectors.md) the lot's
-- decision signal (is_signal) is the raw signal unless explained; without it the decision is the
-- raw signal and both passes are evidence for the models.
-- Everything on row (lot, d) uses only tests up to d.
--
-- Known limit: a line problem (a drift) raises the fails of every lot used on that line at the
-- time; when a part's other lots are used elsewhere, the lot test points at the material too.
-- The yield CUSUM of the line tells the two apart (both are features of the models).

{%- set window_days = var('lot_test_reference_days') | int %}
{%- set alpha = var('lot_test_alpha') | float %}

with

lot_outcomes as (

    select
        test_result_id,
        serial_number,
        supplier_lot_id,
        supplier_id,
        part_id,
        tested_date,
        is_true_fail
    from {{ ref('fct_lot_unit_outcomes') }}

),

lot_units as (

    select distinct
        serial_number,
        supplier_lot_id
    from lot_outcomes

),

lot_days as (

    select
        supplier_lot_id,
        max(supplier_id) as supplier_id,
        max(part_id) as part_id,
        tested_date,
        datediff(tested_date, date '1970-01-01') as day_number,
        count(*) as first_attempts,
        sum(is_true_fail) as true_fails
    from lot_outcomes
    group by supplier_lot_id, tested_date

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
            as is_raw_signal
    from tested

),

raw_signals as (

    select
        supplier_lot_id,
        min_by(struct(tested_date, p_value), tested_date) as first_raw_signal
    from flagged
    where is_raw_signal
    group by supplier_lot_id

),

-- per unit, its raw-signalling lots in the order they signalled (on the same day: the smaller
-- p-value first); the first one is the unit's prime suspect
unit_signal_ranks as (

    select
        lot_units.serial_number,
        lot_units.supplier_lot_id,
        raw_signals.first_raw_signal.tested_date as raw_signal_date,
        row_number() over (
            partition by lot_units.serial_number
            order by raw_signals.first_raw_signal.tested_date, raw_signals.first_raw_signal.p_value,
                lot_units.supplier_lot_id
        ) as signal_rank
    from lot_units
    inner join raw_signals
        on lot_units.supplier_lot_id = raw_signals.supplier_lot_id

),

unit_signals as (

    select
        serial_number,
        supplier_lot_id as first_lot_id,
        raw_signal_date as first_signal_date
    from unit_signal_ranks
    where signal_rank = 1

),

-- each judged first attempt of a unit built with the lot, and from when another raw-signalling
-- lot in the same unit explains it
unit_attempts as (

    select
        lot_outcomes.supplier_lot_id,
        lot_outcomes.serial_number,
        lot_outcomes.tested_date,
        lot_outcomes.is_true_fail,
        reference_rates.reference_rate,
        -- the unit's prime suspect explains it for every other lot in it, from its signal on;
        -- the prime suspect itself keeps the unit
        case
            when unit_signals.first_lot_id <> lot_outcomes.supplier_lot_id then unit_signals.first_signal_date
        end as explained_from
    from lot_outcomes
    inner join reference_rates
        on lot_outcomes.supplier_lot_id = reference_rates.supplier_lot_id
        and lot_outcomes.tested_date = reference_rates.tested_date
    left join unit_signals
        on lot_outcomes.serial_number = unit_signals.serial_number
    where reference_rates.reference_rate is not null

),

-- the adjusted evidence as running sums of events: an attempt enters on its test day and leaves
-- on the day it becomes explained (the same day if it already was); every lot-day is an event day
adjusted_events as (

    select supplier_lot_id, tested_date as event_date, 1 as attempts, is_true_fail as fails,
        reference_rate as expected
    from unit_attempts
    union all
    select supplier_lot_id, greatest(tested_date, explained_from), -1, -is_true_fail, -reference_rate
    from unit_attempts
    where explained_from is not null
    union all
    select supplier_lot_id, tested_date, 0, 0, cast(0 as double)
    from flagged

),

adjusted_days as (

    select
        supplier_lot_id,
        event_date,
        sum(attempts) as attempts,
        sum(fails) as fails,
        sum(expected) as expected
    from adjusted_events
    group by supplier_lot_id, event_date

),

adjusted_running as (

    select
        supplier_lot_id,
        event_date,
        sum(attempts) over lot_so_far as adjusted_attempts,
        sum(fails) over lot_so_far as adjusted_true_fails,
        greatest(sum(expected) over lot_so_far, cast(0 as double)) as adjusted_expected_true_fails
    from adjusted_days
    window lot_so_far as (
        partition by supplier_lot_id order by event_date
        rows between unbounded preceding and current row
    )

),

adjusted as (

    select
        flagged.*,
        adjusted_running.adjusted_attempts,
        adjusted_running.adjusted_true_fails,
        adjusted_running.adjusted_expected_true_fails,
        case when adjusted_running.adjusted_attempts > 0 then {{ poisson_upper_tail(
            'adjusted_running.adjusted_true_fails', 'adjusted_running.adjusted_expected_true_fails'
        ) }} end as adjusted_p_value
    from flagged
    inner join adjusted_running
        on flagged.supplier_lot_id = adjusted_running.supplier_lot_id
        and flagged.tested_date = adjusted_running.event_date

),

adjusted_flagged as (

    select
        *,
        coalesce(
            adjusted_true_fails >= {{ var('lot_test_min_fails') }} and adjusted_p_value < {{ alpha }}, false
        ) as is_adjusted_signal
    from adjusted

),

-- Explaining away, pairwise: for two raw-signalling lots L and M that share units, L's evidence
-- without the shared units (its remainder) and M's remainder, both as of each of L's test days.
-- L is explained by M when L's remainder no longer signals while M's still does on its own: the
-- shared units' fails belong to M. Two lots whose remainders both signal, or neither (always
-- built together), cannot be told apart: neither explains the other.
raw_lot_units as (

    select
        lot_units.serial_number,
        lot_units.supplier_lot_id
    from lot_units
    inner join raw_signals
        on lot_units.supplier_lot_id = raw_signals.supplier_lot_id

),

lot_pairs as (

    select distinct
        lot.supplier_lot_id,
        other.supplier_lot_id as other_lot_id
    from raw_lot_units as lot
    inner join raw_lot_units as other
        on lot.serial_number = other.serial_number
        and lot.supplier_lot_id <> other.supplier_lot_id

),

-- per pair and test day of the lot: its judged attempts on units that do NOT hold the other lot
pair_remainder_days as (

    select
        lot_pairs.supplier_lot_id,
        lot_pairs.other_lot_id,
        unit_attempts.tested_date,
        sum(case when shared.serial_number is null then 1 else 0 end) as attempts,
        sum(case when shared.serial_number is null then unit_attempts.is_true_fail else 0 end) as fails,
        sum(case when shared.serial_number is null then unit_attempts.reference_rate else 0.0 end) as expected
    from lot_pairs
    inner join unit_attempts
        on lot_pairs.supplier_lot_id = unit_attempts.supplier_lot_id
    left join raw_lot_units as shared
        on shared.supplier_lot_id = lot_pairs.other_lot_id
        and shared.serial_number = unit_attempts.serial_number
    group by lot_pairs.supplier_lot_id, lot_pairs.other_lot_id, unit_attempts.tested_date

),

-- both sides of each ordered pair on one calendar: the lot's own remainder days and the other
-- lot's remainder days (from the reversed pair), as running sums
pair_events as (

    select supplier_lot_id, other_lot_id, tested_date, attempts as own_attempts, fails as own_fails,
        expected as own_expected, 0 as other_attempts, 0 as other_fails, cast(0 as double) as other_expected
    from pair_remainder_days
    union all
    select other_lot_id, supplier_lot_id, tested_date, 0, 0, cast(0 as double), attempts, fails, expected
    from pair_remainder_days
    union all
    -- every test day of the lot, judged or not, gets the pair's state
    select lot_pairs.supplier_lot_id, lot_pairs.other_lot_id, flagged.tested_date, 0, 0, cast(0 as double), 0, 0,
        cast(0 as double)
    from lot_pairs
    inner join flagged
        on lot_pairs.supplier_lot_id = flagged.supplier_lot_id

),

pair_running as (

    select
        supplier_lot_id,
        other_lot_id,
        tested_date,
        sum(sum(own_attempts)) over pair_so_far as own_attempts,
        sum(sum(own_fails)) over pair_so_far as own_fails,
        sum(sum(own_expected)) over pair_so_far as own_expected,
        sum(sum(other_attempts)) over pair_so_far as other_attempts,
        sum(sum(other_fails)) over pair_so_far as other_fails,
        sum(sum(other_expected)) over pair_so_far as other_expected
    from pair_events
    group by supplier_lot_id, other_lot_id, tested_date
    window pair_so_far as (
        partition by supplier_lot_id, other_lot_id order by tested_date
        rows between unbounded preceding and current row
    )

),

pair_tests as (

    select
        *,
        case when own_attempts > 0 then {{ poisson_upper_tail('own_fails', 'own_expected') }} end as own_p_value,
        case when other_attempts > 0 then {{ poisson_upper_tail('other_fails', 'other_expected') }} end
            as other_p_value
    from pair_running

),

-- on the lot's day: the other lot that explains it (its remainder signals, the lot's does not);
-- the strongest (smallest p) when several do
explanations as (

    select
        supplier_lot_id,
        tested_date,
        min_by(other_lot_id, struct(other_p_value, other_lot_id)) as explained_by_lot_id
    from pair_tests
    where coalesce(other_fails >= {{ var('lot_test_min_fails') }} and other_p_value < {{ alpha }}, false)
        and not coalesce(own_fails >= {{ var('lot_test_min_fails') }} and own_p_value < {{ alpha }}, false)
    group by supplier_lot_id, tested_date

),

decided as (

    select
        adjusted_flagged.*,
        case when adjusted_flagged.is_raw_signal then explanations.explained_by_lot_id end as explained_by_lot_id
    from adjusted_flagged
    left join explanations
        on adjusted_flagged.supplier_lot_id = explanations.supplier_lot_id
        and adjusted_flagged.tested_date = explanations.tested_date

),

signalled as (

    select
        *,
        {% if var('lot_test_explain_away') %}
        is_raw_signal and explained_by_lot_id is null as is_signal
        {% else %}
        is_raw_signal as is_signal
        {% endif %}
    from decided

),

dated as (

    select
        *,
        min(case when is_signal then tested_date end) over (
            partition by supplier_lot_id order by day_number
            rows between unbounded preceding and current row
        ) as first_signal_date
    from signalled

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', supplier_lot_id, cast(tested_date as string)) as string) as lot_test_id,
        cast(supplier_lot_id as string) as supplier_lot_id,
        cast(supplier_id as string) as supplier_id,
        cast(part_id as string) as part_id,
        cast(explained_by_lot_id as string) as explained_by_lot_id,

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
        cast(adjusted_attempts as bigint) as adjusted_attempts,
        cast(adjusted_true_fails as bigint) as adjusted_true_fails,
        cast(round(adjusted_expected_true_fails, 6) as double) as adjusted_expected_true_fails,
        cast(adjusted_p_value as double) as adjusted_p_value,

        ---------- booleans
        cast(reference_rate is not null as boolean) as is_judged,
        cast(is_raw_signal as boolean) as is_raw_signal,
        cast(is_adjusted_signal as boolean) as is_adjusted_signal,
        cast(is_signal as boolean) as is_signal,

        ---------- dates
        cast(tested_date as date) as tested_date,
        cast(first_signal_date as date) as first_signal_date

    from dated

)

select * from final
