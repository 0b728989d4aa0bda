-- Internal and external quality loss per site and UTC day (DOMAIN), the one definition that
-- fct_quality_loss (per month) and the digest's report model (per week) add up:
--   internal loss = loss_cost_usd of failed test attempts (rework, scrap; IQC scrap included)
--                   at the site, by day of the test;
--   external loss = claim_cost_usd of field returns, by day the claim was received, attributed
--                   to the site that built / shipped the unit: the shipment's site, else the
--                   genealogy's site, else the serial prefix (<SITE>-<PRODUCT>-<n>, used by the
--                   installed base shipped before the data starts);
--   output value  = unit_value_usd of the units shipped by the site that day.
-- Sums are not rounded here; the monthly table rounds its own sums.

with

test_results as (

    select * from {{ ref('stg_mes__test_results') }}

),

shipments as (

    select * from {{ ref('stg_mes__shipments') }}

),

genealogy as (

    select * from {{ ref('stg_mes__unit_genealogies') }}

),

returns as (

    select * from {{ ref('stg_field_returns__returns') }}

),

internal_loss as (

    select
        site_id,
        cast(tested_at as date) as loss_date,
        sum(coalesce(loss_cost_usd, 0.0)) as internal_loss_usd,
        count(case when disposition = 'SCRAP' then 1 end) as scrap_events,
        count(case when disposition = 'REWORK' then 1 end) as rework_events
    from test_results
    group by site_id, cast(tested_at as date)

),

output_value as (

    select
        site_id,
        cast(shipped_at as date) as loss_date,
        sum(unit_value_usd) as output_value_usd,
        count(*) as units_shipped
    from shipments
    group by site_id, cast(shipped_at as date)

),

shipment_sites as (

    select serial_number, max(site_id) as site_id from shipments group by serial_number

),

genealogy_sites as (

    select serial_number, max(site_id) as site_id from genealogy group by serial_number

),

known_sites as (

    select distinct site_id from shipments
    union
    select distinct site_id from test_results

),

attributed_returns as (

    select
        returns.rma_id,
        returns.claim_cost_usd,
        returns.received_at,
        coalesce(shipment_sites.site_id, genealogy_sites.site_id, known_sites.site_id) as site_id,
        shipment_sites.site_id is null and genealogy_sites.site_id is null as is_attributed_by_serial_prefix
    from returns
    left join shipment_sites on returns.serial_number = shipment_sites.serial_number
    left join genealogy_sites on returns.serial_number = genealogy_sites.serial_number
    left join known_sites on substring_index(returns.serial_number, '-', 1) = known_sites.site_id

),

external_loss as (

    select
        coalesce(site_id, 'UNATTRIBUTED') as site_id,
        cast(received_at as date) as loss_date,
        sum(claim_cost_usd) as external_loss_usd,
        count(*) as claims,
        count(case when is_attributed_by_serial_prefix then 1 end) as claims_attributed_by_serial_prefix
    from attributed_returns
    group by coalesce(site_id, 'UNATTRIBUTED'), cast(received_at as date)

),

site_days as (

    select site_id, loss_date from internal_loss
    union
    select site_id, loss_date from output_value
    union
    select site_id, loss_date from external_loss

),

final as (

    select
        cast(concat_ws('|', site_days.site_id, cast(site_days.loss_date as string)) as string) as quality_loss_daily_id,
        cast(site_days.site_id as string) as site_id,
        cast(coalesce(output_value.output_value_usd, 0.0) as double) as output_value_usd,
        cast(coalesce(output_value.units_shipped, 0) as bigint) as units_shipped,
        cast(coalesce(internal_loss.internal_loss_usd, 0.0) as double) as internal_loss_usd,
        cast(coalesce(internal_loss.scrap_events, 0) as bigint) as scrap_events,
        cast(coalesce(internal_loss.rework_events, 0) as bigint) as rework_events,
        cast(coalesce(external_loss.external_loss_usd, 0.0) as double) as external_loss_usd,
        cast(coalesce(external_loss.claims, 0) as bigint) as claims,
        cast(coalesce(external_loss.claims_attributed_by_serial_prefix, 0) as bigint)
            as claims_attributed_by_serial_prefix,
        cast(site_days.loss_date as date) as loss_date
    from site_days
    left join internal_loss
        on site_days.site_id = internal_loss.site_id
        and site_days.loss_date = internal_loss.loss_date
    left join output_value
        on site_days.site_id = output_value.site_id
        and site_days.loss_date = output_value.loss_date
    left join external_loss
        on site_days.site_id = external_loss.site_id
        and site_days.loss_date = external_loss.loss_date

)

select * from final
