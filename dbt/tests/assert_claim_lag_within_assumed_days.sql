-- The maturity flags of fct_field_return_cohorts assume a failure reaches the RMA system within
-- var claim_lag_days (14) of the failure date. Claims that took longer (warn, not error: the
-- flags then call a rate mature a little early; raise the var if this warns on real data).

{{ config(severity='warn') }}

select
    rma_id,
    failure_date,
    received_date,
    datediff(received_date, failure_date) as claim_lag_days
from {{ ref('stg_field_returns__returns') }}
where datediff(received_date, failure_date) > {{ var('claim_lag_days') }}
