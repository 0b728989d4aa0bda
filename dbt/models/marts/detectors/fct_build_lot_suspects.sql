-- Attribution through genealogy (docs/detectors.md): for every build lot, what the label-free
-- detectors point at as its likely cause, ranked, so that a warning on the build lot reaches the
-- owner who can act (a supplier, a station's technician) rather than the build's line alone.
-- One row per build lot and suspect; build lots without a suspect have no row.
--
-- Suspects:
--   supplier_lot  a component lot of the build lot that the incoming detectors flagged: a lot-test
--                 signal (fct_lot_genealogy_tests: strength = -log10 of its smallest p-value) or a
--                 drift of the supplier's outgoing data (fct_supplier_outgoing_cusum: strength =
--                 largest CUSUM / h, so 1 = on the limit); the larger of the two when both;
--   station       a station of the build lot's line whose yield CUSUM signalled on a day the lot
--                 was being built (fct_yield_cusum: strength = CUSUM / h, true or false fails).
-- Strengths are on a common scale where 1 is a detector's own signal limit (a p of 0.001 is a
-- -log10 of 3, so lot tests are divided by -log10 of var lot_test_alpha); rank 1 is the strongest.

{%- set supplier_h = var('supplier_cusum_h') | float %}
{%- set yield_h = var('yield_cusum_h') | float %}

with

placements as (

    select
        build_lot_id,
        max(line_id) as line_id,
        supplier_lot_id,
        max(supplier_id) as supplier_id,
        max(part_id) as part_id,
        count(distinct serial_number) as units_with_lot,
        min(built_date) as first_built_date,
        max(built_date) as last_built_date
    from {{ ref('stg_mes__unit_genealogies') }}
    where build_lot_id is not null
        and supplier_lot_id is not null
    group by build_lot_id, supplier_lot_id

),

build_lots as (

    select
        build_lot_id,
        max(line_id) as line_id,
        min(first_built_date) as first_built_date,
        max(last_built_date) as last_built_date
    from placements
    group by build_lot_id

),

lot_test_flags as (

    select
        supplier_lot_id,
        -log10(greatest(min(p_value), 1e-300)) / -log10({{ var('lot_test_alpha') }}) as strength,
        min(first_signal_date) as flagged_date,
        max_by(description, -p_value) as evidence
    from {{ ref('fct_lot_genealogy_tests') }}
    where is_signal
    group by supplier_lot_id

),

drift_flags as (

    select
        supplier_lot_id,
        max(greatest(coalesce(cusum_up, 0.0), coalesce(cusum_down, 0.0))) / {{ supplier_h }} as strength,
        min(lot_shipped_date) as flagged_date,
        max_by(description, greatest(coalesce(cusum_up, 0.0), coalesce(cusum_down, 0.0))) as evidence
    from {{ ref('fct_supplier_outgoing_cusum') }}
    where is_upward_signal or is_downward_signal
    group by supplier_lot_id

),

lot_flags as (

    select
        coalesce(lot_test_flags.supplier_lot_id, drift_flags.supplier_lot_id) as supplier_lot_id,
        greatest(coalesce(lot_test_flags.strength, 0.0), coalesce(drift_flags.strength, 0.0)) as strength,
        least(lot_test_flags.flagged_date, drift_flags.flagged_date) as flagged_date,
        case when coalesce(lot_test_flags.strength, 0.0) >= coalesce(drift_flags.strength, 0.0)
            then lot_test_flags.evidence else drift_flags.evidence end as evidence
    from lot_test_flags
    full outer join drift_flags
        on lot_test_flags.supplier_lot_id = drift_flags.supplier_lot_id

),

lot_suspects as (

    select
        placements.build_lot_id,
        'supplier_lot' as suspect_type,
        placements.supplier_lot_id as suspect_id,
        placements.supplier_id as owner_hint,
        placements.units_with_lot,
        lot_flags.strength,
        lot_flags.flagged_date,
        concat(placements.units_with_lot, ' units of the build lot carry ', placements.part_id, ' lot ',
            placements.supplier_lot_id, ' from ', placements.supplier_id, '. ', lot_flags.evidence) as evidence
    from placements
    inner join lot_flags
        on placements.supplier_lot_id = lot_flags.supplier_lot_id

),

station_signals as (

    select
        station_id,
        line_id,
        tested_date,
        greatest(
            case when is_true_fail_signal then cusum_true else 0.0 end,
            case when is_false_fail_signal then cusum_false else 0.0 end
        ) / {{ yield_h }} as strength,
        description
    from {{ ref('fct_yield_cusum') }}
    where monitor_level = 'station'
        and (is_true_fail_signal or is_false_fail_signal)

),

station_suspects as (

    select
        build_lots.build_lot_id,
        'station' as suspect_type,
        station_signals.station_id as suspect_id,
        station_signals.station_id as owner_hint,
        cast(null as bigint) as units_with_lot,
        max(station_signals.strength) as strength,
        min(station_signals.tested_date) as flagged_date,
        concat('The lot was built while station ', station_signals.station_id, ' signalled. ',
            max_by(station_signals.description, station_signals.strength)) as evidence
    from build_lots
    inner join station_signals
        on build_lots.line_id = station_signals.line_id
        and station_signals.tested_date between build_lots.first_built_date and build_lots.last_built_date
    group by build_lots.build_lot_id, station_signals.station_id

),

suspects as (

    select * from lot_suspects
    union all
    select * from station_suspects

),

ranked as (

    select
        *,
        row_number() over (partition by build_lot_id order by strength desc, suspect_type, suspect_id)
            as suspect_rank
    from suspects

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', build_lot_id, suspect_type, suspect_id) as string) as build_lot_suspect_id,
        cast(build_lot_id as string) as build_lot_id,
        cast(suspect_id as string) as suspect_id,
        cast(owner_hint as string) as owner_hint,

        ---------- strings
        cast(suspect_type as string) as suspect_type,
        cast(evidence as string) as evidence,

        ---------- numerics
        cast(suspect_rank as int) as suspect_rank,
        cast(round(strength, 6) as double) as strength,
        cast(units_with_lot as bigint) as units_with_lot,

        ---------- dates
        cast(flagged_date as date) as flagged_date

    from ranked

)

select * from final
