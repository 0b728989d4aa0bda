{#-
  Silver holds one row per primary key *and landing day*: a record re-delivered on a later
  business day appears once per day. Staging keeps the latest delivery of every key.
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
                order by landing_date desc, _source_file desc, _record_locator desc
            ) as _delivery_rank
        from {{ relation_cte }}
    ) as ranked
    where _delivery_rank = 1
{%- endmacro %}
