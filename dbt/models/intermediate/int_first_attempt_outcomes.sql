-- One row per unit and route station type: the unit's first attempt there and what its failure
-- meant, retest-aware (docs/detectors.md). A failed first attempt is
--   a false fail when its disposition was RETEST (no repair) and the unit's next attempt at the
--     same station type (attempt 2) passed: the unit was good, the station said otherwise;
--   a true fail otherwise (reworked, scrapped, or failed again on retest): the unit was bad.
-- Rising false fails point at the station (fixture wear, probe or cable fault), true fails at
-- the product, the process or the material. Used by the yield CUSUM (per station and line) and
-- the lot test through genealogy (per supplier lot), so both count a fail the same way.

with

first_attempts as (

    select * from {{ ref('int_unit_first_attempts') }}

),

attempts as (

    select
        test_result_id,
        serial_number,
        station_type,
        attempt_number,
        disposition,
        is_pass,
        tested_at
    from {{ ref('stg_mes__test_results') }}
    where not is_iqc_sample
        and attempt_number in (1, 2)

),

first_dispositions as (

    select
        test_result_id,
        disposition
    from attempts
    where attempt_number = 1

),

ranked_retests as (

    select
        serial_number,
        station_type,
        is_pass,
        row_number() over (
            partition by serial_number, station_type order by tested_at, test_result_id
        ) as retest_rank
    from attempts
    where attempt_number = 2

),

final as (

    select
        ---------- ids
        first_attempts.test_result_id,
        first_attempts.serial_number,
        first_attempts.site_id,
        first_attempts.line_id,
        first_attempts.station_id,
        first_attempts.product_id,

        ---------- strings
        first_attempts.station_type,

        ---------- numerics (0 / 1, to be summed)
        case when not first_attempts.is_first_pass then 1 else 0 end as is_fail,
        case
            when not first_attempts.is_first_pass
                and first_dispositions.disposition = 'RETEST'
                and coalesce(ranked_retests.is_pass, false) then 1
            else 0
        end as is_false_fail,

        ---------- dates
        first_attempts.tested_date

    from first_attempts
    left join first_dispositions
        on first_attempts.test_result_id = first_dispositions.test_result_id
    left join ranked_retests
        on first_attempts.serial_number = ranked_retests.serial_number
        and first_attempts.station_type = ranked_retests.station_type
        and ranked_retests.retest_rank = 1

)

select
    *,
    is_fail - is_false_fail as is_true_fail
from final
