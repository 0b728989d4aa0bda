"""Point-in-time features and label maturity on tiny hand-made silver tables."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pytest

from ml import features as feat
from ml import labels as lab

D0 = date(2026, 3, 2)
D1 = date(2026, 3, 3)

SCHEMAS = {
    "test_results": "test_result_id string, serial_number string, line_id string, station_type string, "
    "product_id string, supplier_lot_id string, attempt_number int, is_pass boolean, tested_at timestamp",
    "unit_genealogy": "serial_number string, product_id string, build_lot_id string, line_id string, "
    "built_at timestamp, part_id string, supplier_id string, supplier_lot_id string",
    "shipments": "shipment_id string, serial_number string, product_id string, shipped_at timestamp",
    "spc_measurements": "measurement_id string, line_id string, characteristic_id string, measured_value double, "
    "lower_spec_limit double, upper_spec_limit double, measured_at timestamp",
    "lab_results": "lab_sample_id string, lab_test_seq int, sample_kind string, material_ref string, "
    "characteristic_id string, measured_value double, lab_status string, tested_at timestamp",
    "field_returns": "rma_id string, serial_number string, product_id string, is_doa boolean, received_at timestamp",
    "supplier_lot_tests": "supplier_id string, supplier_lot_id string, part_id string, lot_shipped_date date, "
    "characteristic_id string, measured_value double, lower_spec_limit double, upper_spec_limit double",
}

B1 = "SZX-L1-AX100-20260302"


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _t(i, serial, line, st, lot, att, ok, at, product="AX100"):
    return (f"T{i}", serial, line, st, product, lot, att, ok, ts(at))


BASE = {
    "test_results": [
        # IQC of lot L1 (today) and L2 (earlier), both SUP01
        _t(1, "IQC-L1-1", None, "IQC", "L1", 1, False, "2026-03-02 08:00:00", "P1"),
        _t(2, "IQC-L1-2", None, "IQC", "L1", 1, True, "2026-03-02 08:05:00", "P1"),
        *[_t(10 + i, f"IQC-L2-{i}", None, "IQC", "L2", 1, i != 0, "2026-02-21 09:00:00", "P1") for i in range(4)],
        # units: U3 (lot L2) earlier, U1/U2 (lot L1) today
        _t(20, "U3", "SZX-L1", "ICT", None, 1, True, "2026-02-25 10:00:00"),
        _t(21, "U1", "SZX-L1", "FT", None, 1, False, "2026-03-02 10:00:00"),
        _t(22, "U1", "SZX-L1", "FT", None, 2, True, "2026-03-02 10:30:00"),
        _t(23, "U2", "SZX-L1", "FT", None, 1, True, "2026-03-02 11:00:00"),
        _t(24, "U2", "SZX-L1", "ICT", None, 1, True, "2026-03-02 23:59:59"),
    ],
    "unit_genealogy": [
        ("U3", "AX100", "SZX-L1-AX100-20260225", "SZX-L1", ts("2026-02-25 08:00:00"), "P1", "SUP01", "L2"),
        ("U1", "AX100", B1, "SZX-L1", ts("2026-03-02 09:00:00"), "P1", "SUP01", "L1"),
        ("U1", "AX100", B1, "SZX-L1", ts("2026-03-02 09:00:00"), "P3", "SUP03", "L3"),
        ("U2", "AX100", B1, "SZX-L1", ts("2026-03-02 09:10:00"), "P1", "SUP01", "L1"),
        ("U2", "AX100", B1, "SZX-L1", ts("2026-03-02 09:10:00"), "P3", "SUP03", "L3"),
    ],
    "shipments": [("S1", "U1", "AX100", ts("2026-03-02 15:00:00"))],
    "spc_measurements": [
        ("M1", "SZX-L1", "PASTE_HEIGHT", 100.0, 90.0, 105.0, ts("2026-02-28 09:00:00")),
        ("M2", "SZX-L1", "PASTE_HEIGHT", 102.0, 90.0, 105.0, ts("2026-02-28 09:01:00")),
        ("M3", "SZX-L1", "PASTE_HEIGHT", 98.0, 90.0, 105.0, ts("2026-03-01 09:00:00")),
        ("M4", "SZX-L1", "PASTE_HEIGHT", 100.0, 90.0, 105.0, ts("2026-03-01 09:01:00")),
        ("M5", "SZX-L1", "PASTE_HEIGHT", 104.0, 90.0, 105.0, ts("2026-03-02 09:00:00")),
        ("M6", "SZX-L1", "PASTE_HEIGHT", 106.0, 90.0, 105.0, ts("2026-03-02 09:01:00")),
    ],
    "lab_results": [("LS1", 1, "BUILD_LOT", B1, "SOLDER_VOID", 0.04, "PASS", ts("2026-03-02 14:00:00"))],
    "field_returns": [("R1", "U1", "AX100", True, ts("2026-03-02 20:00:00"))],
    "supplier_lot_tests": [
        ("SUP01", "L1", "P1", date(2026, 3, 1), "THICKNESS", 1.6, 1.5, 1.7),
        ("SUP01", "L1", "P1", date(2026, 3, 1), "SOLDER_VOID", 0.075, None, 0.15),
        ("SUP01", "L1", "P1", date(2026, 3, 1), "IMPEDANCE", 56.0, 45.0, 55.0),
        ("SUP01", "L2", "P1", date(2026, 2, 20), "THICKNESS", 1.6, 1.5, 1.7),
        ("SUP03", "L3", "P3", date(2026, 2, 27), "THICKNESS", 1.6, 1.5, 1.7),
    ],
}

# records whose event time is d0 + 1 (00:00:00 UTC) or later: must not change the features of d0
LATE = {
    "test_results": [
        _t(30, "IQC-L1-3", None, "IQC", "L1", 1, False, "2026-03-03 00:00:00", "P1"),
        _t(31, "IQC-L3-1", None, "IQC", "L3", 1, False, "2026-03-03 00:00:00", "P3"),
        _t(32, "U2", "SZX-L1", "FT", None, 2, False, "2026-03-03 00:00:00"),
        _t(33, "U4", "SZX-L1", "FT", None, 1, False, "2026-03-03 07:00:00"),
        _t(34, "U4", "SZX-L1", "ICT", None, 1, False, "2026-03-03 07:00:00"),
    ],
    "unit_genealogy": [
        ("U4", "AX100", B1, "SZX-L1", ts("2026-03-03 00:00:00"), "P1", "SUP01", "L1"),
    ],
    "shipments": [("S2", "U2", "AX100", ts("2026-03-03 00:00:00"))],
    "spc_measurements": [("M7", "SZX-L1", "PASTE_HEIGHT", 200.0, 90.0, 105.0, ts("2026-03-03 00:00:00"))],
    "lab_results": [("LS2", 1, "BUILD_LOT", B1, "SOLDER_VOID", 0.30, "FAIL", ts("2026-03-03 00:00:00"))],
    "field_returns": [("R2", "U2", "AX100", True, ts("2026-03-04 00:00:00"))],
    "supplier_lot_tests": [("SUP01", "L9", "P1", date(2026, 3, 3), "THICKNESS", 9.9, 1.5, 1.7)],
}


def _silver(spark, with_late: bool):
    return {t: spark.createDataFrame(BASE[t] + (LATE[t] if with_late else []), SCHEMAS[t]).coalesce(1) for t in SCHEMAS}


@pytest.fixture(scope="module")
def silver_base(spark):
    return _silver(spark, False)


@pytest.fixture(scope="module")
def silver_full(spark):
    return _silver(spark, True)


def _rows(df, key: str) -> dict:
    return {(r[key], r["score_date"]): r.asDict() for r in df.collect()}


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, float) and isinstance(y, float):
            if not (math.isclose(x, y, rel_tol=1e-9) or (math.isnan(x) and math.isnan(y))):
                return False
        elif x != y:
            return False
    return True


@pytest.fixture(scope="module")
def built(silver_base, silver_full):
    """Each scope's features for d0 and d1, on the base data and on base + late records."""
    out = {}
    for scope, key in (
        ("incoming_material", "supplier_lot_id"),
        ("factory_output", "line_id"),
        ("field_return", "build_lot_id"),
    ):
        fn = feat.BUILDERS[scope]
        out[scope] = (_rows(fn(silver_base, [D0, D1]), key), _rows(fn(silver_full, [D0, D1]), key))
    return out


def test_feature_columns_match_declaration(built):
    for scope, (base, _) in built.items():
        row = next(iter(base.values()))
        assert list(row) == [*feat.KEYS[scope], "score_date", *feat.FEATURES[scope]], scope


@pytest.mark.parametrize(
    "scope,key",
    [("incoming_material", ("L1", D0)), ("factory_output", ("SZX-L1", D0)), ("field_return", (B1, D0))],
)
def test_records_after_score_day_do_not_change_features(built, scope, key):
    base, full = built[scope]
    assert _same(base[key], full[key]), (base[key], full[key])
    # ...while the same late records do change the next day's row (the test can fail)
    nxt = (key[0], D1)
    assert not _same(base[nxt], full[nxt])


def test_incoming_material_values(built):
    base, full = built["incoming_material"]
    r = base[("L1", D0)]
    assert r["lot_age_days"] == 1
    assert r["supplier_n_params"] == 3 and r["supplier_n_out_of_spec"] == 1
    assert r["supplier_worst_margin"] == pytest.approx(-0.1)
    assert r["supplier_void_fraction"] == pytest.approx(0.075)
    assert r["iqc_samples"] == 2 and r["iqc_fail_rate"] == pytest.approx(0.5)
    assert r["supplier_prior_iqc_samples"] == 4 and r["supplier_prior_iqc_fail_rate"] == pytest.approx(0.25)
    assert r["units_built"] == 2
    assert r["downstream_first_attempts"] == 3  # U1 FT, U2 FT, U2 ICT (23:59:59 is still d0)
    assert r["downstream_fail_rate"] == pytest.approx(1 / 3)
    assert r["part_downstream_fail_rate"] == pytest.approx(1 / 4)  # + U3 via lot L2
    # unit level: U1 failed (FT), U2 passed; the part adds U3 (passed) of lot L2
    assert r["units_tested"] == 2 and r["unit_fail_rate"] == pytest.approx(0.5)
    assert r["part_unit_fail_rate"] == pytest.approx(1 / 3)
    # against p = max(0.005, other lots 0/1): (1 - 2 x 0.005) / sqrt(2 x 0.005 x 0.995)
    assert r["unit_fail_z"] == pytest.approx(0.99 / math.sqrt(2 * 0.005 * 0.995))
    # a lot shipped after the score date has no row; L9 appears on d1
    assert ("L9", D0) not in full and ("L9", D1) in full
    assert full[("L1", D1)]["iqc_samples"] == 3 and full[("L1", D1)]["units_built"] == 3


def test_factory_output_values(built):
    base, _ = built["factory_output"]
    r = base[("SZX-L1", D0)]
    assert r["ft_1d_first_attempts"] == 2 and r["ft_1d_fail_rate"] == pytest.approx(0.5)
    assert r["ict_1d_first_attempts"] == 1 and r["ict_1d_fail_rate"] == 0.0
    assert r["ict_7d_first_attempts"] == 2  # U3 on 02-25 is inside d-6 .. d
    assert r["rel_1d_fail_rate"] is None
    assert r["retest_rate_1d"] == pytest.approx(1 / 3)
    assert r["spc_max_shift_sigma"] == pytest.approx(5 / math.sqrt(8 / 3))
    assert r["spc_max_sigma_ratio"] == pytest.approx(math.sqrt(2) / math.sqrt(8 / 3))
    assert r["spc_oos_share_1d"] == pytest.approx(0.5) and r["spc_points_1d"] == 2


def test_field_return_values(built):
    base, full = built["field_return"]
    r = base[(B1, D0)]
    assert r["days_since_build"] == 0 and r["units_built"] == 2 and r["units_shipped"] == 1
    assert r["returns_so_far"] == 1 and r["return_rate_so_far"] == pytest.approx(1.0)
    assert r["doa_so_far"] == 1 and r["lab_void_mean"] == pytest.approx(0.04) and r["lab_fails"] == 0
    assert r["first_attempts"] == 3 and r["first_attempt_fails"] == 1
    assert r["iqc_failed_component_share"] == pytest.approx(0.5)  # L1 failed IQC on d0, L3 did not
    f = full[(B1, D1)]
    assert f["units_shipped"] == 2 and f["lab_void_max"] == pytest.approx(0.30) and f["lab_fails"] == 1
    assert f["iqc_failed_component_share"] == pytest.approx(1.0)  # L3's IQC fail is known on d1
    assert f["returns_so_far"] == 1  # R2 arrives on 03-04
    assert r["flagged_component_share"] is None  # the mart's incoming detectors are not built here


def test_field_return_features_count_components_the_incoming_detectors_flagged(spark, silver_base):
    """Cross-scope: B1's placements come half from L1, half from L3. The supplier CUSUM flags L1
    from its ship date (D0); the lot test flags L3 on D1, so it is unknown on D0."""
    silver = dict(silver_base)
    silver["fct_lot_genealogy_tests"] = spark.createDataFrame(
        [("L3", D0, False), ("L3", D1, True)], "supplier_lot_id string, tested_date date, is_signal boolean"
    )
    silver["fct_supplier_outgoing_cusum"] = spark.createDataFrame(
        [("L1", D0, True, False), ("L3", D0, False, False)],
        "supplier_lot_id string, lot_shipped_date date, is_upward_signal boolean, is_downward_signal boolean",
    )
    rows = _rows(feat.field_return_features(silver, [D0, D1]), "build_lot_id")
    assert rows[(B1, D0)]["flagged_component_share"] == pytest.approx(0.5)
    assert rows[(B1, D1)]["flagged_component_share"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- labels


def _factory_label_silver(spark):
    rows = [_t(i, f"A{i}", "SZX-L1", "FT", None, 1, True, "2026-03-02 09:00:00") for i in range(4)]
    plan = {
        "2026-03-03": [True, True],
        "2026-03-04": [False, True],
        "2026-03-05": [True, True],
        "2026-03-06": [False, False],
    }
    i = 100
    for day, oks in plan.items():
        for ok in oks:
            rows.append(_t(i, f"A{i}", "SZX-L1", "FT", None, 1, ok, f"{day} 10:00:00"))
            i += 1
    s = {t: spark.createDataFrame([], SCHEMAS[t]) for t in SCHEMAS}
    s["test_results"] = spark.createDataFrame(rows, SCHEMAS["test_results"])
    return s


def test_factory_output_label_maturity(spark):
    silver = _factory_label_silver(spark)
    keys = spark.createDataFrame([("SZX-L1", date(2026, 3, d)) for d in (2, 3, 4)], "line_id string, score_date date")
    kw = dict(horizon_days=3, min_rate=0.3, k=1.5, min_tests=2)
    got = {
        r["score_date"]: r["label"] for r in lab.factory_output_labels(silver, keys, date(2026, 3, 6), **kw).collect()
    }
    # d0: next 3 days 1/6 fails -> 0; d1: 3/6 -> 1; d2 matures on 03-07 > cutoff -> excluded
    assert got == {date(2026, 3, 2): 0, date(2026, 3, 3): 1}
    got = {r["score_date"] for r in lab.factory_output_labels(silver, keys, date(2026, 3, 5), **kw).collect()}
    assert got == {date(2026, 3, 2)}


def test_incoming_material_label_maturity(spark, silver_full):
    keys = feat.incoming_material_features(silver_full, [D0, D1]).select(*feat.KEYS["incoming_material"], "score_date")
    kw = dict(min_units=1, idle_days=7, k=2.0, rate_floor=0.02, min_failed=1)
    early = lab.incoming_material_labels(silver_full, keys, date(2026, 3, 5), **kw).collect()
    # L1 is still consumed (last build 03-03 -> mature 03-10); L2 last built 02-25 -> mature 03-04
    assert {(r["supplier_lot_id"], r["score_date"]): r["label"] for r in early} == {("L2", D0): 0, ("L2", D1): 0}
    late = {
        (r["supplier_lot_id"], r["score_date"]): r["label"]
        for r in lab.incoming_material_labels(silver_full, keys, date(2026, 3, 10), **kw).collect()
    }
    # L1: units U1 (FT fail), U2 (FT, ICT pass), U4 (FT+ICT fail) -> 2/3 units fail vs p = max(0.02, 0/1);
    # z = (2 - 3 x 0.02) / sqrt(3 x 0.02 x 0.98) = 7.9 > 2.33
    assert late[("L1", D0)] == 1 and late[("L1", D1)] == 1


def test_field_return_label_maturity(spark, silver_full):
    keys = spark.createDataFrame([(B1, D0)], "build_lot_id string, score_date date")
    kw = dict(window_days=5, ship_grace_days=1, min_shipped=1, min_returns=1)
    # last ship 03-03, build 03-02 + 1 -> mature 03-08
    assert lab.field_return_labels(silver_full, keys, date(2026, 3, 7), **kw).count() == 0
    rows = lab.field_return_labels(silver_full, keys, date(2026, 3, 8), **kw).collect()
    assert [(r["label"], r["label_mature_date"]) for r in rows] == [(1, date(2026, 3, 8))]


DETECTOR_SCHEMAS = {
    "fct_yield_cusum": "line_id string, station_id string, monitor_level string, monitor_id string, tested_date date, "
    "is_judged boolean, cusum_true double, cusum_false double, is_true_fail_signal boolean, "
    "is_false_fail_signal boolean",
    "fct_spc_rule_violations": "line_id string, characteristic_id string, rule_number int, "
    "first_point_date date, last_point_date date",
}


def test_factory_features_read_the_detectors_point_in_time(spark, silver_base):
    day = D0.toordinal()

    def d(k):
        return date.fromordinal(day + k)

    cusum = [
        # line SZX-L1: a station's false-fail CUSUM rising to a signal on d0, the line's true fails
        ("SZX-L1", "ICT-1", "station", "ICT-1", d(-2), True, 0.0, 2.0, False, False),
        ("SZX-L1", "ICT-1", "station", "ICT-1", d(0), True, 0.5, 6.5, False, True),
        ("SZX-L1", "FT-1", "station", "FT-1", d(0), True, 1.0, 0.0, False, False),
        ("SZX-L1", None, "line", "SZX-L1", d(0), True, 1.5, 3.0, False, False),
        ("SZX-L1", "ICT-1", "station", "ICT-1", d(1), True, 0.0, 9.0, False, True),   # after d0: unseen on d0
        ("SZX-L1", "SYS-1", "station", "SYS-1", d(0), False, None, None, False, False),  # not judged: ignored
        # line BRQ-L1: a station fixed a while ago, its CUSUM falling back (20 nine days before d0, 10 on
        # d-3) when a chance fail lifts it to 11: above h, but it rose by 1 this week
        ("BRQ-L1", "FT-2", "station", "FT-2", d(-9), True, 0.0, 20.0, False, True),
        ("BRQ-L1", "FT-2", "station", "FT-2", d(-7), True, 0.0, 14.0, False, True),
        ("BRQ-L1", "FT-2", "station", "FT-2", d(-3), True, 0.0, 10.0, False, True),
        ("BRQ-L1", "FT-2", "station", "FT-2", d(0), True, 0.0, 11.0, False, True),
    ]
    violations = [
        ("SZX-L1", "PASTE_HEIGHT", 1, d(-3), d(-3)),
        ("SZX-L1", "PASTE_HEIGHT", 2, d(-12), d(-1)),
        ("SZX-L1", "REFLOW_PEAK", 5, d(-9), d(-8)),   # completed 8 days before: outside the 7 days
        ("SZX-L1", "REFLOW_PEAK", 3, d(-2), d(1)),    # completed after d0: unseen on d0
    ]
    silver = dict(silver_base)
    silver["fct_yield_cusum"] = spark.createDataFrame(cusum, DETECTOR_SCHEMAS["fct_yield_cusum"])
    silver["fct_spc_rule_violations"] = spark.createDataFrame(violations, DETECTOR_SCHEMAS["fct_spc_rule_violations"])
    rows = _rows(feat.factory_output_features(silver, [D0, D1]), "line_id")
    r = rows[("SZX-L1", D0)]
    assert r["yield_cusum_false_max_1d"] == 6.5 and r["yield_cusum_true_max_1d"] == 1.5
    # the week's rise: ICT-1 went from 2.0 (d-2) to 6.5; the line's CUSUM had no earlier day
    assert r["yield_cusum_false_rise_7d"] == 4.5
    assert r["yield_cusum_signals_7d"] == 1
    assert r["spc_violations_7d"] == 2 and r["spc_beyond_limits_7d"] == 1
    n = rows[("SZX-L1", D1)]
    assert n["yield_cusum_false_max_1d"] == 9.0 and n["yield_cusum_signals_7d"] == 2 and n["spc_violations_7d"] == 3
    assert n["yield_cusum_false_rise_7d"] == 7.0  # 9.0 - the week's lowest, 2.0 on d-2
    # a line the feature grid does not hold (no tests in these few rows): its detector features alone
    dates = spark.createDataFrame([(D0,)], "score_date date")
    fixed = _rows(feat.detector_features(silver, dates), "line_id")[("BRQ-L1", D0)]
    assert fixed["yield_cusum_false_max_1d"] == 11.0 and fixed["yield_cusum_false_rise_7d"] == 1.0
    # without the detector tables (the mart has not run) the columns exist and are null
    plain = _rows(feat.factory_output_features(silver_base, [D0]), "line_id")[("SZX-L1", D0)]
    assert all(plain[c] is None for c in feat.DETECTOR_FEATURES)


def test_expected_returns_sum_the_weekly_weibull_over_the_lot_units(spark):
    import pandas as pd

    from ml.exposure import weekly_fits, weibull_cdf

    s0 = date(2026, 1, 5)  # a Monday
    units, lots, rma = [], [], []
    for i in range(40):  # 40 units of AX100 shipped on 4 days, 10 a day; lot A holds the first 20
        serial = f"U{i:03d}"
        units.append((f"S{i}", serial, "AX100", datetime(2026, 1, 5 + i // 10, 9)))
        lots.append((serial, "A" if i < 20 else "B"))
    for i in range(8):  # 8 returns of lot A's units, received 3..10 days after shipping
        rma.append((f"R{i}", f"U{i:03d}", "AX100", False, datetime(2026, 1, 5 + i // 10 + 3 + i, 12)))
    ship = spark.createDataFrame(units, SCHEMAS["shipments"])
    returns = spark.createDataFrame(rma, SCHEMAS["field_returns"])
    unit_lot = spark.createDataFrame(lots, "serial_number string, build_lot_id string")
    day = date(2026, 1, 27)  # a Tuesday: the fit of Monday 01-26 (returns received before it)
    dates = spark.createDataFrame([(day,)], "score_date date")
    rows = feat.expected_returns(ship, returns, unit_lot, dates, 180).collect()
    got = {r["build_lot_id"]: r["expected"] for r in rows}
    days = [s0 + timedelta(days=k) for k in range(4)]
    shipped = pd.DataFrame({"product_id": "AX100", "ship_date": days, "units": 10})
    ret = pd.DataFrame(
        {"product_id": "AX100", "ship_date": [s0 + timedelta(days=i // 10) for i in range(8)],
         "received_date": [date(2026, 1, 5 + i // 10 + 3 + i) for i in range(8)], "returns": 1}
    )
    fit = weekly_fits(shipped, ret, [date(2026, 1, 26)]).iloc[0]
    ages = [(day - (s0 + timedelta(days=k))).days + 1 for k in range(4)]
    want_a = sum(10 * weibull_cdf(a, fit["weibull_lambda"], fit["weibull_rho"]) for a in ages[:2])
    want_b = sum(10 * weibull_cdf(a, fit["weibull_lambda"], fit["weibull_rho"]) for a in ages[2:])
    assert got["A"] == pytest.approx(want_a, rel=1e-9) and got["B"] == pytest.approx(want_b, rel=1e-9)
    # a day in a week whose Monday knew fewer than 5 returns has no life model: no row
    early = spark.createDataFrame([(date(2026, 1, 8),)], "score_date date")
    assert feat.expected_returns(ship, returns, unit_lot, early, 180).count() == 0


def test_incoming_features_read_the_lot_detectors_point_in_time(spark):
    import math

    day = D0.toordinal()

    def d(k):
        return date.fromordinal(day + k)

    lot_tests = [
        # lot A: tested on d-2 and d0 (signal), and on d+1 (unseen on d0)
        # (lot, day, observed, expected, p, adjusted observed, adjusted p, explained by)
        ("L-A", d(-2), 1, 0.8, 0.5, 1, 0.5, None),
        ("L-A", d(0), 6, 1.5, 1e-4, 2, 0.1, "L-X"),
        ("L-A", d(1), 9, 2.0, 1e-7, 9, 1e-7, None),
        # lot B: last tested 61 days before d0: older than a lot's feature life (60 days)
        ("L-B", d(-61), 1, 1.0, 0.6, 1, 0.6, None),
    ]
    cusum = [
        ("L-A", 1.5, 0.0, -0.2),
        ("L-A", 0.0, 4.5, -2.5),  # the lot's largest CUSUM and |z| come from its worst parameter
        ("L-C", None, None, None),  # not judged (too few earlier lots)
    ]
    silver = {
        "fct_lot_genealogy_tests": spark.createDataFrame(
            lot_tests,
            "supplier_lot_id string, tested_date date, judged_true_fails bigint, expected_true_fails double, "
            "p_value double, adjusted_true_fails bigint, adjusted_p_value double, explained_by_lot_id string",
        ),
        "fct_supplier_outgoing_cusum": spark.createDataFrame(
            cusum, "supplier_lot_id string, cusum_up double, cusum_down double, z double"
        ),
    }
    grid = spark.createDataFrame(
        [("L-A", D0), ("L-A", d(-3)), ("L-B", D0), ("L-C", D0)], "supplier_lot_id string, score_date date"
    )
    out = feat.incoming_detector_features(silver, grid).collect()
    rows = {(r["supplier_lot_id"], r["score_date"]): r.asDict() for r in out}
    a = rows[("L-A", D0)]
    assert a["lot_test_true_fails"] == 6 and a["lot_test_expected_fails"] == 1.5
    assert math.isclose(a["lot_test_surprise"], 4.0)
    # on d0 the raw signal is explained by co-built lot L-X: the adjusted test is what is left
    assert a["lot_test_adjusted_true_fails"] == 2 and math.isclose(a["lot_test_adjusted_surprise"], 1.0)
    assert a["lot_test_explained"] == 1.0
    assert a["supplier_cusum_max"] == 4.5 and a["supplier_z_max"] == 2.5
    before = rows[("L-A", d(-3))]  # nothing tested yet; the supplier evidence is there from shipping
    assert before["lot_test_surprise"] is None and before["supplier_cusum_max"] == 4.5
    assert before["lot_test_explained"] is None
    assert rows[("L-B", D0)]["lot_test_true_fails"] is None and rows[("L-B", D0)]["supplier_cusum_max"] is None
    c = rows[("L-C", D0)]
    assert c["supplier_cusum_max"] == 0.0 and c["supplier_z_max"] is None
    # without the detector tables the columns exist and are null
    plain = feat.incoming_detector_features({}, grid).collect()
    assert all(r[c] is None for r in plain for c in feat.INCOMING_DETECTOR_FEATURES)
