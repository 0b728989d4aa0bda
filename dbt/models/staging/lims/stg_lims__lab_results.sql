with

source as (

    select * from {{ source('lims', 'lab_results') }}

),

latest as (

    {{ latest_per_key('source', ['lab_sample_id', 'lab_test_seq']) }}

),

renamed as (

    select
        ---------- ids
        concat_ws('|', lab_sample_id, cast(lab_test_seq as string)) as lab_result_id,
        lab_sample_id,
        site_id,
        material_ref,
        characteristic_id,

        ---------- strings
        sample_kind,
        test_method,
        lab_status,
        unit_of_measure,

        ---------- numerics
        cast(lab_test_seq as int) as lab_test_seq,
        cast(measured_value as double) as measured_value,
        cast(lower_spec_limit as double) as lower_spec_limit,
        cast(upper_spec_limit as double) as upper_spec_limit,

        ---------- booleans
        lab_status = 'PASS' as is_pass,

        ---------- dates
        cast(tested_at as date) as tested_date,
        landing_date,

        ---------- timestamps
        tested_at,

        ---------- lineage
        _source_file,
        _record_locator,
        _run_id

    from latest

)

select * from renamed
