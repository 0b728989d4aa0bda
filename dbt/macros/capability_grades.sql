{#-
  The five quality-management capability grades (docs/mart.md, the domain brief's table):

  | grade | sigma level | Cpk     | rolled FPY | internal loss rate | external loss rate |
  | 1     | < 3         | < 1.00 or not measured | < 90 % | not measured | not measured |
  | 2     | >= 3        | >= 1.00 | >= 90 %    | measured (>= 3.0 %)| measured (>= 2.3 %)|
  | 3     | >= 4        | >= 1.33 | >= 95 %    | < 3.0 %            | < 2.3 %            |
  | 4     | >= 5        | >= 1.67 | >= 97 %    | < 1.5 %            | < 1.0 %            |
  | 5     | >= 6        | >= 2.00 | >= 98 %    | < 0.75 %           | < 0.5 %            |

  A unit reaches a grade only when it meets every column: the grade is the least of the
  per-column grades. A column that is not measured (null) grades 1.
-#}

{#- Higher is better: thresholds = [grade 2, grade 3, grade 4, grade 5] minimums. -#}
{% macro grade_at_least(value, thresholds) -%}
    case
        when ({{ value }}) is null then 1
        when ({{ value }}) >= {{ thresholds[3] }} then 5
        when ({{ value }}) >= {{ thresholds[2] }} then 4
        when ({{ value }}) >= {{ thresholds[1] }} then 3
        when ({{ value }}) >= {{ thresholds[0] }} then 2
        else 1
    end
{%- endmacro %}

{#- Lower is better (loss rates): measured at all = grade 2; thresholds = [grade 3, grade 4,
    grade 5] strict upper bounds. -#}
{% macro grade_below(value, thresholds) -%}
    case
        when ({{ value }}) is null then 1
        when ({{ value }}) < {{ thresholds[2] }} then 5
        when ({{ value }}) < {{ thresholds[1] }} then 4
        when ({{ value }}) < {{ thresholds[0] }} then 3
        else 2
    end
{%- endmacro %}

{% macro sigma_level_grade(value) -%}{{ grade_at_least(value, [3.0, 4.0, 5.0, 6.0]) }}{%- endmacro %}
{% macro cpk_grade(value) -%}{{ grade_at_least(value, [1.00, 1.33, 1.67, 2.00]) }}{%- endmacro %}
{% macro rolled_fpy_grade(value) -%}{{ grade_at_least(value, [0.90, 0.95, 0.97, 0.98]) }}{%- endmacro %}
{% macro internal_loss_grade(value) -%}{{ grade_below(value, [0.030, 0.015, 0.0075]) }}{%- endmacro %}
{% macro external_loss_grade(value) -%}{{ grade_below(value, [0.023, 0.010, 0.005]) }}{%- endmacro %}
