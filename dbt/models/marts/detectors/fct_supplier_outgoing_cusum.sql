-- Supplier outgoing-data drift (docs/detectors.md): a two-sided CUSUM per supplier, part and
-- parameter on the supplier's own outgoing test values, lot by lot, so that a supplier process
-- change shows while its parameters still sit inside spec. One row per supplier lot and numeric
-- parameter.
--
-- Lots of a (supplier, part, parameter) series are ordered by ship date (then lot id); lot i is
-- judged against the mean and sample standard deviation of the lots i - gap - W .. i - gap - 1
-- (W = var supplier_baseline_lots, gap = var supplier_baseline_gap_lots), a phase-I window that
-- never holds the lot judged nor the few lots before it, and only when that window holds at least
-- var supplier_baseline_min_lots lots with a positive spread. z = (x - mean) / sd.
-- Upper and lower CUSUM (Montgomery 9.1, standardised): C+_i = max(0, C+_{i-1} + z_i - k),
-- C-_i = max(0, C-_{i-1} - z_i - k), each computed without recursion as S_i - min(0, min S_j)
-- (lots not judged add 0); signal when either exceeds h (vars supplier_cusum_k, _h). A new
-- supplier of a part starts its own series, so a planned, qualified change of supplier is not
-- a drift; a change inside one supplier's process is.

{%- set baseline_lots = var('supplier_baseline_lots') | int %}
{%- set gap_lots = var('supplier_baseline_gap_lots') | int %}
{%- set k = var('supplier_cusum_k') | float %}
{%- set h = var('supplier_cusum_h') | float %}

with

lot_tests as (

    select
        supplier_id,
        part_id,
        characteristic_id,
        supplier_lot_id,
        lot_shipped_date,
        measured_value,
        lower_spec_limit,
        upper_spec_limit,
        unit_of_measure,
        is_out_of_spec
    from {{ ref('stg_supplier__lot_tests') }}
    where measured_value is not null
        and lot_shipped_date is not null

),

ordered as (

    select
        *,
        row_number() over (
            partition by supplier_id, part_id, characteristic_id
            order by lot_shipped_date, supplier_lot_id
        ) as lot_sequence
    from lot_tests

),

baselines as (

    select
        ordered.*,
        count(measured_value) over baseline_window as baseline_lots,
        avg(measured_value) over baseline_window as baseline_mean,
        stddev_samp(measured_value) over baseline_window as baseline_sd
    from ordered
    window baseline_window as (
        partition by supplier_id, part_id, characteristic_id
        order by lot_sequence
        rows between {{ baseline_lots + gap_lots }} preceding and {{ gap_lots + 1 }} preceding
    )

),

standardised as (

    select
        *,
        case when baseline_lots >= {{ var('supplier_baseline_min_lots') }} and baseline_sd > 0
            then (measured_value - baseline_mean) / baseline_sd end as z
    from baselines

),

running as (

    select
        *,
        sum(coalesce(z - {{ k }}, 0.0)) over running_window as s_up,
        sum(coalesce(-z - {{ k }}, 0.0)) over running_window as s_down
    from standardised
    window running_window as (
        partition by supplier_id, part_id, characteristic_id order by lot_sequence
        rows between unbounded preceding and current row
    )

),

cusums as (

    select
        *,
        case when z is not null then s_up - least(0.0, min(s_up) over running_window) end as cusum_up,
        case when z is not null then s_down - least(0.0, min(s_down) over running_window) end as cusum_down
    from running
    window running_window as (
        partition by supplier_id, part_id, characteristic_id order by lot_sequence
        rows between unbounded preceding and current row
    )

),

excursions as (

    -- an excursion is a run of lots with C > 0; it starts after the last lot with C = 0
    select
        *,
        count(case when coalesce(cusum_up, 0.0) <= 0 then 1 end) over running_window as up_run,
        count(case when coalesce(cusum_down, 0.0) <= 0 then 1 end) over running_window as down_run
    from cusums
    window running_window as (
        partition by supplier_id, part_id, characteristic_id order by lot_sequence
        rows between unbounded preceding and current row
    )

),

flagged as (

    select
        *,
        case when cusum_up > 0 then min_by(case when cusum_up > 0 then supplier_lot_id end,
            case when cusum_up > 0 then lot_sequence end) over (
                partition by supplier_id, part_id, characteristic_id, up_run) end as up_excursion_first_lot_id,
        case when cusum_down > 0 then min_by(case when cusum_down > 0 then supplier_lot_id end,
            case when cusum_down > 0 then lot_sequence end) over (
                partition by supplier_id, part_id, characteristic_id, down_run) end as down_excursion_first_lot_id,
        coalesce(cusum_up > {{ h }}, false) as is_upward_signal,
        coalesce(cusum_down > {{ h }}, false) as is_downward_signal
    from excursions

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', supplier_lot_id, characteristic_id) as string) as supplier_cusum_id,
        cast(supplier_lot_id as string) as supplier_lot_id,
        cast(supplier_id as string) as supplier_id,
        cast(part_id as string) as part_id,
        cast(characteristic_id as string) as characteristic_id,
        cast(case when is_upward_signal then up_excursion_first_lot_id
            when is_downward_signal then down_excursion_first_lot_id end as string) as drift_first_lot_id,

        ---------- strings
        cast(unit_of_measure as string) as unit_of_measure,
        cast(case when is_upward_signal or is_downward_signal then concat(
            supplier_id, ' ', part_id, ' ', characteristic_id, ': lot ', supplier_lot_id, ' measured ',
            format_number(measured_value, 3), ' ', coalesce(unit_of_measure, ''), ' against ',
            format_number(baseline_mean, 3), ' +/- ', format_number(baseline_sd, 3), ' on the supplier''s ',
            baseline_lots, ' earlier lots; ',
            case when is_upward_signal then 'upward' else 'downward' end, ' CUSUM ',
            format_number(greatest(coalesce(cusum_up, 0), coalesce(cusum_down, 0)), 2), ' > {{ h }} since lot ',
            case when is_upward_signal then up_excursion_first_lot_id else down_excursion_first_lot_id end,
            case when is_out_of_spec then ': out of spec.'
                else ': still inside spec, the supplier''s process has moved; ask what changed.' end
        ) end as string) as description,

        ---------- numerics
        cast(lot_sequence as bigint) as lot_sequence,
        cast(measured_value as double) as measured_value,
        cast(lower_spec_limit as double) as lower_spec_limit,
        cast(upper_spec_limit as double) as upper_spec_limit,
        cast(baseline_lots as bigint) as baseline_lots,
        cast(round(baseline_mean, 8) as double) as baseline_mean,
        cast(round(baseline_sd, 8) as double) as baseline_sd,
        cast(round(z, 6) as double) as z,
        cast(round(cusum_up, 6) as double) as cusum_up,
        cast(round(cusum_down, 6) as double) as cusum_down,

        ---------- booleans
        cast(z is not null as boolean) as is_judged,
        cast(is_out_of_spec as boolean) as is_out_of_spec,
        cast(is_upward_signal as boolean) as is_upward_signal,
        cast(is_downward_signal as boolean) as is_downward_signal,

        ---------- dates
        cast(lot_shipped_date as date) as lot_shipped_date

    from flagged

)

select * from final
