-- Quality of every supplier lot seen by any system, joined across the three views of a lot:
--   1. the supplier's outgoing inspection (silver.supplier_lot_tests): parameters measured, out
--      of spec, worst normalised margin, solder-void fraction (VOID_GRADE -> SOLDER_VOID);
--   2. our incoming inspection (IQC rows of silver.test_results, by supplier_lot_id): samples
--      and samples failing at their first attempt;
--   3. downstream: units built with the lot (silver.unit_genealogy) and how many of them failed
--      their first attempt at any route station (ICT/FT/REL/SYS), and came back from the field.
--
-- Normalised margin of one parameter (1 = centred / far from the limit, 0 = on the limit,
-- < 0 = out of spec): two-sided min(USL - x, x - LSL) / ((USL - LSL) / 2); one-sided
-- (USL - x) / |USL| or (x - LSL) / |LSL|. worst_normalized_margin is the minimum over the lot.
--
-- Incremental (macros/incremental_scope.sql): recomputes the lots of mart_scope.supplier_lots
-- (every input is read for those lots only; units' outcomes and returns join by serial).

{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='supplier_lot_id',
    incremental_scope={'column': 'supplier_lot_id', 'scope': 'supplier_lots', 'kind': 'string'},
    on_schema_change='fail'
) }}

with

lot_tests as (

    select * from {{ ref('stg_supplier__lot_tests') }}
    {%- if is_incremental() %}
    where {{ in_mart_scope('supplier_lot_id', 'supplier_lots', 'string') }}
    {%- endif %}

),

test_results as (

    select * from {{ ref('stg_mes__test_results') }}

),

genealogy as (

    select * from {{ ref('stg_mes__unit_genealogies') }}
    {%- if is_incremental() %}
    where {{ in_mart_scope('supplier_lot_id', 'supplier_lots', 'string') }}
    {%- endif %}

),

first_attempts as (

    select * from {{ ref('int_unit_first_attempts') }}

),

returns as (

    select * from {{ ref('stg_field_returns__returns') }}

),

supplier_margins as (

    select
        lot_tests.*,
        case
            when lower_spec_limit is not null and upper_spec_limit is not null
                and upper_spec_limit > lower_spec_limit
                then least(upper_spec_limit - measured_value, measured_value - lower_spec_limit)
                    / ((upper_spec_limit - lower_spec_limit) / 2)
            when upper_spec_limit is not null and upper_spec_limit <> 0
                then (upper_spec_limit - measured_value) / abs(upper_spec_limit)
            when lower_spec_limit is not null and lower_spec_limit <> 0
                then (measured_value - lower_spec_limit) / abs(lower_spec_limit)
        end as normalized_margin
    from lot_tests

),

supplier_summary as (

    select
        supplier_lot_id,
        max(supplier_id) as supplier_id,
        max(part_id) as part_id,
        max(purchase_order_id) as purchase_order_id,
        max(lot_quantity) as lot_quantity,
        max(lot_shipped_date) as lot_shipped_date,
        count(*) as supplier_parameters_measured,
        sum(case when is_out_of_spec then 1 else 0 end) as supplier_parameters_out_of_spec,
        min(normalized_margin) as worst_normalized_margin,
        max(case when characteristic_id = 'SOLDER_VOID' then measured_value end) as void_fraction,
        max(case when characteristic_id = 'SOLDER_VOID' then value_code end) as void_grade_code
    from supplier_margins
    group by supplier_lot_id

),

iqc_samples as (

    select
        supplier_lot_id,
        serial_number,
        max(product_id) as part_id,
        max(site_id) as site_id,
        max(case when attempt_number = 1 and not is_pass then 1 else 0 end) as is_first_attempt_fail,
        min(tested_at) as first_tested_at
    from test_results
    where is_iqc_sample
        and supplier_lot_id is not null
    {%- if is_incremental() %}
        and {{ in_mart_scope('supplier_lot_id', 'supplier_lots', 'string') }}
    {%- endif %}
    group by supplier_lot_id, serial_number

),

iqc_summary as (

    select
        supplier_lot_id,
        max(part_id) as part_id,
        count(*) as iqc_samples_tested,
        sum(is_first_attempt_fail) as iqc_samples_failed,
        min(first_tested_at) as iqc_first_tested_at
    from iqc_samples
    group by supplier_lot_id

),

unit_outcomes as (

    select
        serial_number,
        max(case when not is_first_pass then 1 else 0 end) as has_first_attempt_fail
    from first_attempts
    group by serial_number

),

returned_units as (

    select distinct serial_number from returns

),

downstream_summary as (

    select
        genealogy.supplier_lot_id,
        max(genealogy.supplier_id) as supplier_id,
        max(genealogy.part_id) as part_id,
        count(distinct genealogy.serial_number) as units_built,
        count(distinct case when unit_outcomes.serial_number is not null then genealogy.serial_number end)
            as units_route_tested,
        count(distinct case when unit_outcomes.has_first_attempt_fail = 1 then genealogy.serial_number end)
            as units_failed_first_attempt,
        count(distinct returned_units.serial_number) as units_returned,
        min(genealogy.built_date) as first_built_date,
        max(genealogy.built_date) as last_built_date
    from genealogy
    left join unit_outcomes
        on genealogy.serial_number = unit_outcomes.serial_number
    left join returned_units
        on genealogy.serial_number = returned_units.serial_number
    group by genealogy.supplier_lot_id

),

lots as (

    select supplier_lot_id from supplier_summary
    union
    select supplier_lot_id from iqc_summary
    union
    select supplier_lot_id from downstream_summary

),

final as (

    select
        ---------- ids
        cast(lots.supplier_lot_id as string) as supplier_lot_id,
        cast(coalesce(supplier_summary.supplier_id, downstream_summary.supplier_id) as string) as supplier_id,
        cast(coalesce(supplier_summary.part_id, downstream_summary.part_id, iqc_summary.part_id) as string)
            as part_id,
        cast(supplier_summary.purchase_order_id as string) as purchase_order_id,

        ---------- strings
        cast(supplier_summary.void_grade_code as string) as void_grade_code,

        ---------- numerics: supplier outgoing inspection
        cast(supplier_summary.lot_quantity as int) as lot_quantity,
        cast(coalesce(supplier_summary.supplier_parameters_measured, 0) as bigint) as supplier_parameters_measured,
        cast(coalesce(supplier_summary.supplier_parameters_out_of_spec, 0) as bigint)
            as supplier_parameters_out_of_spec,
        cast(round(supplier_summary.worst_normalized_margin, 6) as double) as worst_normalized_margin,
        cast(supplier_summary.void_fraction as double) as void_fraction,

        ---------- numerics: incoming inspection (IQC)
        cast(coalesce(iqc_summary.iqc_samples_tested, 0) as bigint) as iqc_samples_tested,
        cast(coalesce(iqc_summary.iqc_samples_failed, 0) as bigint) as iqc_samples_failed,
        cast(round(iqc_summary.iqc_samples_failed / nullif(iqc_summary.iqc_samples_tested, 0), 6) as double)
            as iqc_fail_rate,

        ---------- numerics: downstream
        cast(coalesce(downstream_summary.units_built, 0) as bigint) as units_built,
        cast(coalesce(downstream_summary.units_route_tested, 0) as bigint) as units_route_tested,
        cast(coalesce(downstream_summary.units_failed_first_attempt, 0) as bigint) as units_failed_first_attempt,
        cast(round(downstream_summary.units_failed_first_attempt
            / nullif(downstream_summary.units_route_tested, 0), 6) as double) as downstream_fail_rate,
        cast(coalesce(downstream_summary.units_returned, 0) as bigint) as units_returned,

        ---------- booleans
        cast(supplier_summary.supplier_lot_id is not null as boolean) as has_supplier_data,
        cast(iqc_summary.supplier_lot_id is not null as boolean) as has_iqc_data,
        cast(coalesce(supplier_summary.supplier_parameters_out_of_spec, 0) > 0
            or coalesce(iqc_summary.iqc_samples_failed, 0) > 0 as boolean) as is_flagged_before_use,

        ---------- dates
        cast(supplier_summary.lot_shipped_date as date) as lot_shipped_date,
        cast(downstream_summary.first_built_date as date) as first_built_date,
        cast(downstream_summary.last_built_date as date) as last_built_date,

        ---------- timestamps
        cast(iqc_summary.iqc_first_tested_at as timestamp) as iqc_first_tested_at

    from lots
    left join supplier_summary on lots.supplier_lot_id = supplier_summary.supplier_lot_id
    left join iqc_summary on lots.supplier_lot_id = iqc_summary.supplier_lot_id
    left join downstream_summary on lots.supplier_lot_id = downstream_summary.supplier_lot_id

)

select * from final
