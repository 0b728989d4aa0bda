-- One row per first attempt of a unit at a route station type and per supplier lot built into
-- that unit (genealogy x int_first_attempt_outcomes): what the lot test through genealogy counts
-- (docs/detectors.md). Stored once because the lot test reads it in both of its passes, and
-- useful on its own: the downstream first-attempt outcomes of every supplier lot.

with

outcomes as (

    select
        test_result_id,
        serial_number,
        station_type,
        tested_date,
        is_fail,
        is_false_fail,
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

final as (

    select
        ---------- ids
        cast(concat_ws('|', lot_units.supplier_lot_id, outcomes.test_result_id) as string) as lot_outcome_id,
        cast(lot_units.supplier_lot_id as string) as supplier_lot_id,
        cast(lot_units.supplier_id as string) as supplier_id,
        cast(lot_units.part_id as string) as part_id,
        cast(outcomes.test_result_id as string) as test_result_id,
        cast(outcomes.serial_number as string) as serial_number,

        ---------- strings
        cast(outcomes.station_type as string) as station_type,

        ---------- numerics (0 / 1, to be summed)
        cast(outcomes.is_fail as int) as is_fail,
        cast(outcomes.is_false_fail as int) as is_false_fail,
        cast(outcomes.is_true_fail as int) as is_true_fail,

        ---------- dates
        cast(outcomes.tested_date as date) as tested_date

    from lot_units
    inner join outcomes
        on lot_units.serial_number = outcomes.serial_number

)

select * from final
