-- One row per unit and route station type: the unit's first attempt (attempt_number = 1) at that
-- station type. IQC samples are not units and are left out (see fct_supplier_lot_quality).
-- A unit whose first-attempt record was quarantined has no row here (it is not counted as
-- "tested for the first time" rather than counting a retest as a first attempt).

with

test_results as (

    select * from {{ ref('stg_mes__test_results') }}

),

first_attempts as (

    select
        test_results.*,
        row_number() over (
            partition by serial_number, station_type
            order by tested_at, test_result_id
        ) as first_attempt_rank
    from test_results
    where not is_iqc_sample
        and attempt_number = 1

),

final as (

    select
        ---------- ids
        test_result_id,
        serial_number,
        site_id,
        line_id,
        station_id,
        product_id,

        ---------- strings
        station_type,
        failure_code,

        ---------- booleans
        is_pass as is_first_pass,

        ---------- dates
        tested_date,

        ---------- timestamps
        tested_at

    from first_attempts
    where first_attempt_rank = 1

)

select * from final
