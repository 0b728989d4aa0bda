{#-
  Silver holds one row per primary key *and landing day*: a record re-delivered on a later
  business day appears once per day. Staging keeps the latest landing day of every key.
  Within one landing day the landing job has already kept a single row per key, the first by
  file path and then by record number (`line:8` before `line:133`; spark_jobs/landing/conform.py,
  split_valid); the trailing order keys state that same rule, numerically, so the two can never
  disagree. docs/sources.md ("Which record wins") describes the rule.
  Usage (in a staging model's CTE): {{ latest_per_key('source', ['test_result_id']) }}
  The result still carries the helper column `_delivery_rank` (always 1): select explicit columns.
-#}
{% macro latest_per_key(relation_cte, key_columns) -%}
    select *
    from (
        select
            {{ relation_cte }}.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by
                    landing_date desc,
                    _source_file,
                    try_cast(regexp_extract(_record_locator, ':([0-9]+)$', 1) as bigint)
            ) as _delivery_rank
        from {{ relation_cte }}
    ) as ranked
    where _delivery_rank = 1
{%- endmacro %}
