-- Internal and external quality loss per site and calendar month (DOMAIN): the days of
-- fct_quality_loss_daily (where internal loss, external loss and output value are defined)
-- added up by month;
--   rates = loss / output value (null when the site shipped nothing that month).

with

daily as (

    select * from {{ ref('fct_quality_loss_daily') }}

),

monthly as (

    select
        site_id,
        {{ month_start('loss_date') }} as month_start_date,
        sum(output_value_usd) as output_value_usd,
        sum(units_shipped) as units_shipped,
        sum(internal_loss_usd) as internal_loss_usd,
        sum(scrap_events) as scrap_events,
        sum(rework_events) as rework_events,
        sum(external_loss_usd) as external_loss_usd,
        sum(claims) as claims,
        sum(claims_attributed_by_serial_prefix) as claims_attributed_by_serial_prefix
    from daily
    group by site_id, {{ month_start('loss_date') }}

),

final as (

    select
        ---------- ids
        cast(concat_ws('|', site_id, cast(month_start_date as string)) as string) as quality_loss_id,
        cast(site_id as string) as site_id,

        ---------- numerics
        cast(output_value_usd as double) as output_value_usd,
        cast(units_shipped as bigint) as units_shipped,
        cast(round(internal_loss_usd, 2) as double) as internal_loss_usd,
        cast(scrap_events as bigint) as scrap_events,
        cast(rework_events as bigint) as rework_events,
        cast(round(external_loss_usd, 2) as double) as external_loss_usd,
        cast(claims as bigint) as claims,
        cast(claims_attributed_by_serial_prefix as bigint) as claims_attributed_by_serial_prefix,
        cast(round(internal_loss_usd / nullif(output_value_usd, 0), 6) as double) as internal_loss_rate,
        cast(round(external_loss_usd / nullif(output_value_usd, 0), 6) as double) as external_loss_rate,

        ---------- dates
        cast(month_start_date as date) as month_start_date

    from monthly

)

select * from final
