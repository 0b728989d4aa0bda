-- The inline statistics of macros/statistics.sql against reference values (scipy.stats.norm):
-- Phi^-1 (Acklam) in its three regions, the normal upper tail (erfc), the DOMAIN's sigma-level
-- reference points (6 sigma = 3.4 DPMO, 5 ~ 233, 4 ~ 6,210, 3 ~ 66,807) and the DPMO floor, and
-- the Poisson upper tail P(X >= x | mu) (scipy.stats.poisson.sf(x - 1, mu); exact up to mu = 600,
-- Byar's approximation above: within 5 %).
-- Returns the cases that miss their tolerance (none = pass).

with

inverse_cases as (

    select * from values
        (0.5, 0.0),
        (0.975, 1.959963984540054),
        (0.025, -1.9599639845400545),
        (0.02, -2.053748910631823),
        (0.98, 2.0537489106318225),
        (0.001, -3.090232306167813),
        (0.000001, -4.753424308822899),
        (0.99999, 4.264890793923841),
        (0.000000001, -5.9978070150076865)
        as t(p, expected)

),

tail_cases as (

    select * from values
        (0.0, 0.5),
        (1.5, 0.06680720126885807),
        (3.0, 0.0013498980316300933),
        (6.0, 0.0000000009865876450376946),
        (-1.0, 0.8413447460685429)
        as t(z, expected)

),

sigma_cases as (

    select * from values
        (3.4, 6.0),
        (233.0, 5.0),
        (6210.0, 4.0),
        (66807.0, 3.0),
        (0.0, 7.4978)
        as t(dpmo, expected)

),

poisson_cases as (

    select * from values
        (0, 3.0, 1.0),
        (1, 1.0, 0.6321205588285577),
        (2, 2.0, 0.5939941502901616),
        (7, 2.0, 0.004533805526248865),
        (12, 3.0, 0.00007138662897420658),
        (3, 0.5, 0.014387677966970684),
        (25, 10.0, 0.00004694938142679987),
        (150, 100.0, 0.0000018842104660386844),
        (4, 9.0, 0.9787735136970911),
        (700, 620.0, 0.0008606511322599912)
        as t(x, mu, expected)

),

misses as (

    select 'inverse_normal_cdf' as function_name, p as argument, expected,
        {{ inverse_normal_cdf('p') }} as actual
    from inverse_cases
    where not abs({{ inverse_normal_cdf('p') }} - expected) <= 1e-8 * greatest(1.0, abs(expected))

    union all

    select 'normal_survival', z, expected, {{ normal_survival('z') }}
    from tail_cases
    where not abs({{ normal_survival('z') }} - expected) <= 2e-7 * expected

    union all

    select 'sigma_level_from_dpmo', dpmo, expected, {{ sigma_level_from_dpmo('dpmo') }}
    from sigma_cases
    where not abs({{ sigma_level_from_dpmo('dpmo') }} - expected) <= 0.001

    union all

    select 'poisson_upper_tail', x + mu / 1000.0, expected, {{ poisson_upper_tail('x', 'mu') }}
    from poisson_cases
    where not abs({{ poisson_upper_tail('x', 'mu') }} - expected)
        <= case when mu > 600 then 0.05 else 1e-7 end * expected

)

select * from misses
