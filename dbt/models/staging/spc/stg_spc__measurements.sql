with

source as (

    select * from {{ source('spc', 'spc_measurements') }}

),

latest as (

    {{ latest_per_key('source', ['measurement_id']) }}

),

renamed as (

    select
        ---------- ids
        measurement_id,
        site_id,
        line_id,
        characteristic_id,
        subgroup_id,

        ---------- strings
        unit_of_measure,

        ---------- numerics
        cast(sample_index as int) as sample_index,
        cast(measured_value as double) as measured_value,
        cast(lower_spec_limit as double) as lower_spec_limit,
        cast(upper_spec_limit as double) as upper_spec_limit,
        cast(target_value as double) as target_value,

        ---------- dates
        cast(measured_at as date) as measured_date,
        landing_date,

        ---------- timestamps
        measured_at,

        ---------- lineage
        _source_file,
        _record_locator,
        _run_id

    from latest

)

select * from renamed
