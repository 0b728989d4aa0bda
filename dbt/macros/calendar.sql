{#- Monday of the ISO week of a date/timestamp, as a date. -#}
{% macro iso_week_start(expression) -%}
    cast(date_trunc('WEEK', {{ expression }}) as date)
{%- endmacro %}

{#- ISO week label of a week's Monday, e.g. 2026-W10 (the ISO year is the year of the Thursday). -#}
{% macro iso_week_label(week_start_date) -%}
    concat(
        cast(year(date_add({{ week_start_date }}, 3)) as string), '-W',
        lpad(cast(weekofyear({{ week_start_date }}) as string), 2, '0')
    )
{%- endmacro %}

{#- First day of the month of a date/timestamp, as a date. -#}
{% macro month_start(expression) -%}
    cast(trunc(cast({{ expression }} as date), 'MM') as date)
{%- endmacro %}
