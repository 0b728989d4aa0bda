{#-
  Incremental gold marts (docs/mart.md, "Incremental builds").

  spark_jobs.mart.runner computes, from the silver tables' Delta versions since the last
  successful build, which business days / weeks / lots a change of silver can have touched
  (spark_jobs/mart/scope.py) and passes them as the var `mart_scope`, e.g.
    {"station_days": ["2026-03-02", ...], "route_weeks": [...], "capability_weeks": [...],
     "supplier_lots": [...]}
  An incremental model recomputes exactly the rows of its scope and MERGEs them into the gold
  table: rows of the scope that the recomputation no longer produces are deleted
  (config `incremental_scope`, see spark__get_merge_sql below), so the table ends as a full
  rebuild would leave it. An empty scope recomputes nothing. `--full-refresh` rebuilds all.
-#}

{#- The values of one scope (a list of strings, empty when none). -#}
{% macro mart_scope_values(name) -%}
    {%- do return(var('mart_scope', {}).get(name, [])) -%}
{%- endmacro %}

{#- SQL predicate: `column` is one of the scope's values (`kind`: 'date' or 'string'); false when empty. -#}
{% macro in_mart_scope(column, name, kind='date') -%}
    {%- set values = mart_scope_values(name) -%}
    {%- if values | length == 0 -%}
        false
    {%- else -%}
        {%- set literals = [] -%}
        {%- for value in values | sort -%}
            {%- set quoted = "'" ~ (value | string | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'" -%}
            {%- do literals.append(("date " if kind == 'date' else "") ~ quoted) -%}
        {%- endfor -%}
        {{ column }} in ({{ literals | join(', ') }})
    {%- endif -%}
{%- endmacro %}

{#-
  dbt-spark's merge (dbt/include/spark/macros/materializations/incremental/strategies.sql,
  dbt-spark 1.11), plus one clause: with config incremental_scope = {'column': ..., 'scope': ...,
  'kind': ...}, target rows inside the scope that the new rows do not match are deleted
  (Delta MERGE ... WHEN NOT MATCHED BY SOURCE). Without that config it is dbt-spark's merge.
-#}
{% macro spark__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) %}
  {%- set predicates = [] if incremental_predicates is none else [] + incremental_predicates -%}
  {%- set dest_columns = adapter.get_columns_in_relation(target) -%}
  {%- set merge_update_columns = config.get('merge_update_columns') -%}
  {%- set merge_exclude_columns = config.get('merge_exclude_columns') -%}
  {%- set update_columns = get_merge_update_columns(merge_update_columns, merge_exclude_columns, dest_columns) -%}
  {%- set scope = config.get('incremental_scope') -%}

  {% if unique_key %}
      {% if unique_key is sequence and unique_key is not mapping and unique_key is not string %}
          {% for key in unique_key %}
              {% set this_key_match %}
                  DBT_INTERNAL_SOURCE.{{ key }} = DBT_INTERNAL_DEST.{{ key }}
              {% endset %}
              {% do predicates.append(this_key_match) %}
          {% endfor %}
      {% else %}
          {% set unique_key_match %}
              DBT_INTERNAL_SOURCE.{{ unique_key }} = DBT_INTERNAL_DEST.{{ unique_key }}
          {% endset %}
          {% do predicates.append(unique_key_match) %}
      {% endif %}
  {% else %}
      {% do predicates.append('FALSE') %}
  {% endif %}

  {{ sql_header if sql_header is not none }}

  merge into {{ target }} as DBT_INTERNAL_DEST
      using {{ source }} as DBT_INTERNAL_SOURCE
      on {{ predicates | join(' and ') }}

      when matched then update set
        {% if update_columns -%}{%- for column_name in update_columns %}
            {{ column_name }} = DBT_INTERNAL_SOURCE.{{ column_name }}
            {%- if not loop.last %}, {%- endif %}
        {%- endfor %}
        {%- else %} * {% endif %}

      when not matched then insert *
  {%- if scope %}

      when not matched by source
          and {{ in_mart_scope('DBT_INTERNAL_DEST.' ~ scope['column'], scope['scope'], scope.get('kind', 'date')) }}
          then delete
  {%- endif %}
{% endmacro %}
