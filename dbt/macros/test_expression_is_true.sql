{#- Generic data test: every row satisfies a boolean SQL expression (null counts as failure
    unless the expression handles it). Usage on a model:
      data_tests:
        - expression_is_true:
            arguments: {expression: "first_pass_yield between 0 and 1"}
-#}
{% test expression_is_true(model, expression, where_clause=none) %}
    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)
    {%- if where_clause %} and ({{ where_clause }}){% endif %}
{% endtest %}

{#- Generic data test: the combination of columns is unique. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endtest %}
