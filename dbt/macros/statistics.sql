{#-
  Statistics Spark SQL lacks, as inline SQL expressions (no UDF, so they run in the JVM).
  Checked against reference values by tests/assert_statistics_macros_match_reference_values.sql
  (a data test run by every `dbt build`) and by the unit tests of fct_spc_capability.
-#}

{#- d2(n): expected range of n standard-normal values (sigma_within = R-bar / d2), n = 2..10;
    null outside that range (such subgroups are not used). -#}
{% macro d2_constant(subgroup_size) -%}
    case cast({{ subgroup_size }} as int)
        when 2 then 1.128 when 3 then 1.693 when 4 then 2.059 when 5 then 2.326
        when 6 then 2.534 when 7 then 2.704 when 8 then 2.847 when 9 then 2.970
        when 10 then 3.078
    end
{%- endmacro %}


{#- Phi^-1(p), the inverse standard normal CDF, by P. J. Acklam's rational approximation
    (relative error < 1.15e-9 over (0, 1)): a rational function in the central region
    0.02425 <= p <= 0.97575, and in q = sqrt(-2 ln(tail)) in each tail. Null unless 0 < p < 1.
    Pass a lower-tail probability directly: Phi^-1(1 - x) is computed as -Phi^-1(x) by callers
    that care about precision near 1 (see sigma_level_from_dpmo). -#}
{% macro inverse_normal_cdf(p) -%}
    {%- set a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00] -%}
    {%- set b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                 6.680131188771972e+01, -1.328068155288572e+01] -%}
    {%- set c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                 -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00] -%}
    {%- set d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                 3.754408661907416e+00] -%}
    {%- set tail_num -%}
        (((((({{ c[0] }}) * q + ({{ c[1] }})) * q + ({{ c[2] }})) * q + ({{ c[3] }})) * q + ({{ c[4] }})) * q + ({{ c[5] }}))
    {%- endset -%}
    {%- set tail_den -%}
        ((((({{ d[0] }}) * q + ({{ d[1] }})) * q + ({{ d[2] }})) * q + ({{ d[3] }})) * q + 1.0)
    {%- endset -%}
    (
        case
            when ({{ p }}) is null or ({{ p }}) <= 0 or ({{ p }}) >= 1 then null
            when ({{ p }}) < 0.02425 then
                transform(array(sqrt(-2.0 * ln({{ p }}))), q -> {{ tail_num }} / {{ tail_den }})[0]
            when ({{ p }}) > 0.97575 then
                transform(array(sqrt(-2.0 * ln(1.0 - ({{ p }})))), q -> -({{ tail_num }}) / {{ tail_den }})[0]
            else
                transform(array(cast(({{ p }}) - 0.5 as double)), q ->
                    q * (((((({{ a[0] }}) * (q * q) + ({{ a[1] }})) * (q * q) + ({{ a[2] }})) * (q * q) + ({{ a[3] }})) * (q * q) + ({{ a[4] }})) * (q * q) + ({{ a[5] }}))
                    / (((((({{ b[0] }}) * (q * q) + ({{ b[1] }})) * (q * q) + ({{ b[2] }})) * (q * q) + ({{ b[3] }})) * (q * q) + ({{ b[4] }})) * (q * q) + 1.0)
                )[0]
        end
    )
{%- endmacro %}


{#- Q(|z|) = 1 - Phi(|z|), the upper tail of the standard normal, as 0.5 * erfc(|z| / sqrt 2) with the
    Chebyshev erfc of Numerical Recipes (fractional error < 1.2e-7 everywhere, so tails as small
    as 1e-12 keep their relative precision). -#}
{% macro normal_upper_tail(z) -%}
    (
        transform(array(cast(abs({{ z }}) / sqrt(2.0) as double)), x ->
            transform(array(1.0 / (1.0 + 0.5 * x)), t ->
                -- half of erfc(|z| / sqrt 2)
                0.5 * t * exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                    + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                    + t * (-0.82215223 + t * 0.17087277)))))))))
            )[0]
        )[0]
    )
{%- endmacro %}


{#- Q(z) for any sign of z: Q(-z) = 1 - Q(z). Null when z is null. -#}
{% macro normal_survival(z) -%}
    (
        case
            when ({{ z }}) is null then null
            when ({{ z }}) >= 0 then {{ normal_upper_tail(z) }}
            else 1.0 - {{ normal_upper_tail(z) }}
        end
    )
{%- endmacro %}


{#- Short-term sigma level with the conventional 1.5 sigma shift (docs/DOMAIN):
    Z = Phi^-1(1 - DPMO / 1e6) + 1.5, computed as 1.5 - Phi^-1(DPMO / 1e6) (same value, no loss
    of precision near 1). DPMO is floored at 0.001 (Z capped at 7.4978) because a fitted normal
    far inside its limits gives a tail that underflows to 0; null when DPMO is null. -#}
{% macro sigma_level_from_dpmo(dpmo) -%}
    (1.5 - {{ inverse_normal_cdf('least(greatest(cast(' ~ dpmo ~ ' as double), 0.001), 999999.999) / 1000000.0') }})
{%- endmacro %}


{#- Product of positive factors over a group, as exp(sum(ln(x))); 0 when any factor is 0 (ln(0)
    is undefined), null when the group has no non-null factor. -#}
{% macro product_aggregate(expression) -%}
    (
        case
            when count({{ expression }}) = 0 then null
            when min({{ expression }}) <= 0 then 0.0
            else exp(sum(ln({{ expression }})))
        end
    )
{%- endmacro %}


{#- P(X >= x) for X ~ Poisson(mu): the one-sided p-value of observing x events where mu were
    expected. Exact, 1 - sum_{k < x} e^-mu mu^k / k!, with each term from the previous one
    (t_k = t_{k-1} mu / k, no factorials), for mu <= 600; above that e^-mu underflows, and Byar's
    approximation (Breslow & Day 1987) takes over: z = 3 sqrt(x) (1 - 1 / (9x) - (mu / x)^(1/3)),
    p = Q(z), within a few per cent of the exact tail. 1 when x <= 0; 0 when mu <= 0 < x; null when
    either is null. -#}
{% macro poisson_upper_tail(observed, expected) -%}
    (
        case
            when ({{ observed }}) is null or ({{ expected }}) is null then null
            when ({{ observed }}) <= 0 then 1.0
            when ({{ expected }}) <= 0 then 0.0
            when ({{ expected }}) > 600 then {{ normal_survival(
                '3.0 * sqrt(' ~ observed ~ ') * (1.0 - 1.0 / (9.0 * (' ~ observed ~ ')) - pow((' ~ expected ~ ') / (' ~ observed ~ '), 1.0 / 3.0))'
            ) }}
            else greatest(0.0, 1.0 - aggregate(
                filter(sequence(0, cast({{ observed }} as int) - 1), k -> k >= 1),
                named_struct('term', exp(-cast({{ expected }} as double)), 'total', exp(-cast({{ expected }} as double))),
                (acc, k) -> named_struct(
                    'term', acc.term * ({{ expected }}) / k,
                    'total', acc.total + acc.term * ({{ expected }}) / k
                ),
                acc -> acc.total
            ))
        end
    )
{%- endmacro %}
