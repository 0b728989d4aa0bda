"""Label-free warning rules on the feature tables: the evaluation's baseline and the cold start.

Each scope has one simple rule a quality engineer would set up without any history of
incidents (:data:`BASELINE_RULES`): a static threshold on incoming data, SPC rule 1 on the
line's daily points, a DOA threshold on build lots. :func:`baseline_score` turns the rule into a
continuous score whose own threshold (:data:`BASELINE_THRESHOLD`) is the rule, so that the
evaluation can also move that threshold (recall at a matched false-alarm budget).

The same rule serves twice:

* ``ml.evaluate`` reports it as the method ``baseline`` next to the model;
* ``ml.jobs.score_window`` uses it for **cold start**: a score date that no model version may
  score (the scope's history does not yet hold matured labels of both classes, or the date lies
  before the first weekly version) is scored by the rule, written with ``model_name``
  :func:`rule_model_name` and ``model_version`` :data:`RULES_VERSION`, so every warning says
  whether a model or a rule raised it (docs/models.md, "Cold start").

Pure pandas, no Spark: unit-tested on hand-made frames (tests/unit/test_ml_evaluate.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: bump when a rule or threshold changes: it is the ``model_version`` of cold-start warnings
RULES_VERSION = "rules-4"  # rules-2: field returns start cold with the exposure detector; rules-3: factory
#                            output with the retest-aware line evidence; rules-4: its station part on
#                            the false-fail CUSUM's rise within a week

BASELINE_RULES = {
    "incoming_material": "static threshold on incoming data: any supplier parameter out of spec, or IQC fail "
    "rate >= 10 % with >= 5 samples",
    "factory_output": "SPC rule 1 on the line's daily SPC points: a characteristic's daily mean more than "
    "3 baseline sigmas from its 14-day mean, or any point out of spec",
    "field_return": "static threshold on the DOA KPI: >= 2 DOA returns and DOA rate >= 2 % of units shipped",
}
# The baseline's own threshold on its continuous score (baseline_score); the rule fires at or above.
BASELINE_THRESHOLD = {
    "incoming_material": 0.10,
    "factory_output": float(np.nextafter(3.0, np.inf)),
    "field_return": 0.02,
}

#: the feature columns each rule reads (the factors listed with a rule's warning)
RULE_INPUTS = {
    "incoming_material": ("supplier_n_out_of_spec", "iqc_fail_rate", "iqc_samples"),
    "factory_output": ("spc_max_shift_sigma", "spc_oos_share_1d"),
    "field_return": ("doa_rate_so_far", "doa_so_far"),
}
#: short rule names: a cold-start warning's model_name is ``rule:<name>``
RULE_NAMES = {
    "incoming_material": "incoming_static_limits",
    "factory_output": "spc_rule_1",
    "field_return": "doa_threshold",
}


def rule_model_name(scope: str) -> str:
    """The ``model_name`` written with the cold-start rule's scores (``rule:<name>``)."""
    return f"rule:{cold_start(scope)['name']}"


def _f(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(df[col], errors="coerce").fillna(0.0) if col in df else pd.Series(0.0, index=df.index)


def baseline_score(scope: str, features: pd.DataFrame) -> pd.Series:
    """A continuous score per feature row whose own threshold (:data:`BASELINE_THRESHOLD`) is the
    baseline rule (see BASELINE_RULES); the matched-budget comparison moves that threshold."""
    f = features
    if scope == "incoming_material":
        iqc = _f(f, "iqc_fail_rate").where(_f(f, "iqc_samples") >= 5, 0.0)
        return _f(f, "supplier_n_out_of_spec") + iqc
    if scope == "factory_output":
        shift = _f(f, "spc_max_shift_sigma")
        oos = _f(f, "spc_oos_share_1d")
        return shift.where(oos <= 0, np.maximum(shift, 3.0 + 1.0 + oos))
    if scope == "field_return":
        return _f(f, "doa_rate_so_far").where(_f(f, "doa_so_far") >= 2, 0.0)
    raise ValueError(f"unknown scope {scope!r}")


def baseline_warning(scope: str, features: pd.DataFrame) -> pd.Series:
    """Boolean per feature row: the simple baseline rule fires (see BASELINE_RULES)."""
    return baseline_score(scope, features) >= BASELINE_THRESHOLD[scope]


# --------------------------------------------------------------------------- detectors

#: label-free detectors of the mart (docs/detectors.md) read through the feature table, evaluated
#: as the method ``detector`` next to the model and the baseline (ml.evaluate); scopes without a
#: detector yet are absent
DETECTOR_RULES = {
    "incoming_material": "lot test through genealogy (gold.fct_lot_genealogy_tests): at least 3 true fails of units "
    "built with the lot and a one-sided Poisson p < 0.001 against the part's other lots; or the supplier's "
    "outgoing data drifting (gold.fct_supplier_outgoing_cusum): a parameter's CUSUM above h = 4 sigmas",
    "field_return": "warranty monitoring with exposure (ml/exposure.py): at least 3 returns of the build lot and a "
    "one-sided Poisson p < 0.001 against the returns its units' days in the field lead the product's Weibull "
    "life model to expect",
    "factory_output": "retest-aware line evidence: the binomial CUSUM of false fails (retest passed: the station's "
    "fault) on any station of the line, or the line itself, risen by more than h = 6 within the last 7 days "
    "(gold.fct_yield_cusum, log-likelihood of a tripled fail rate; once the station is fixed the CUSUM falls back "
    "slowly and its days above h add no new evidence); or SPC rule 1 on the line's characteristics (a daily mean "
    "beyond 3 baseline sigmas, or a point out of spec: the process moved). True-fail rises are the product's or the "
    "material's, not the line's (they stay model evidence)",
}
DETECTOR_INPUTS = {
    "incoming_material": ("lot_test_surprise", "lot_test_true_fails", "supplier_cusum_max"),
    "factory_output": ("yield_cusum_false_rise_7d", "spc_max_shift_sigma", "spc_oos_share_1d"),
    "field_return": ("exposure_surprise", "returns_so_far"),
}
#: the CUSUM decision limit h (dbt var yield_cusum_h); the detector score is C+ / h
YIELD_CUSUM_H = 6.0
#: the supplier CUSUM's limit h (dbt var supplier_cusum_h), the lot test's alpha as a surprise
#: (-log10 of dbt var lot_test_alpha) and its least true fails (var lot_test_min_fails)
SUPPLIER_CUSUM_H = 4.0
LOT_TEST_SURPRISE = 3.0
LOT_TEST_MIN_FAILS = 3
DETECTOR_THRESHOLD = {
    scope: float(np.nextafter(1.0, np.inf)) for scope in ("incoming_material", "factory_output", "field_return")
}


#: the columns that only exist once the mart built the scope's detectors (the other inputs, e.g. the SPC
#: points the factory rule also reads, come from silver)
DETECTOR_MART_INPUTS = {**DETECTOR_INPUTS, "factory_output": ("yield_cusum_false_rise_7d",)}


def has_detector(scope: str, features: pd.DataFrame) -> bool:
    """The scope has a detector and the feature table carries its evidence (the mart built it)."""
    cols = DETECTOR_MART_INPUTS.get(scope, ())
    return bool(cols) and all(c in features for c in cols) and features[list(cols)].notna().any().any()


def detector_score(scope: str, features: pd.DataFrame) -> pd.Series:
    """A continuous score whose threshold :data:`DETECTOR_THRESHOLD` is the detector's own signal."""
    f = features
    if scope == "incoming_material":
        # the lot test's decision (gold.fct_lot_genealogy_tests.is_signal with the default var
        # lot_test_explain_away: false): the raw test; the second pass is model evidence only
        enough = _f(f, "lot_test_true_fails") >= LOT_TEST_MIN_FAILS
        lot = (_f(f, "lot_test_surprise") / LOT_TEST_SURPRISE).where(enough, 0.0)
        return np.maximum(lot, _f(f, "supplier_cusum_max") / SUPPLIER_CUSUM_H)
    if scope == "factory_output":
        # the false-fail C+'s rise within 7 days / h; SPC rule 1's score / 3 sigmas (above 1: the rule fires)
        station = _f(f, "yield_cusum_false_rise_7d") / YIELD_CUSUM_H
        process = baseline_score(scope, f) / 3.0
        return np.maximum(station, process)
    if scope == "field_return":
        from ml.exposure import DETECTOR_MIN_RETURNS, DETECTOR_SURPRISE

        # surprise / 3 above 1 is p < 0.001; lots with fewer than 3 returns score 0
        enough = _f(f, "returns_so_far") >= DETECTOR_MIN_RETURNS
        return (_f(f, "exposure_surprise") / DETECTOR_SURPRISE).where(enough, 0.0)
    raise ValueError(f"no detector for scope {scope!r}")


# --------------------------------------------------------------------------- cold start

#: scopes whose cold start is their detector instead of the baseline rule: where the harness showed
#: the detector far ahead of the baseline (365-day demo world, seed 42, docs/evaluation.md): field
#: returns (exposure 8 of 10 incidents at 0.1 false alarms per 100 lot-weeks, the DOA threshold 1 of
#: 10) and factory output (retest-aware line evidence 11 of 11 at 5.9 per 100 line-weeks, SPC rule 1
#: alone 4 of 11 at 0.6: it sees no station fault). Incoming material keeps its static limits (the
#: lot test found 13 of 20 lots at 8.6 per 100 lot-weeks against the limits' 11 at 4.8).
COLD_START_DETECTOR = ("field_return", "factory_output")
#: scopes whose detector also stands next to their model once a model scores them
#: (``ml.jobs.detector_stands``): a warning when the model or the detector fires. The same scopes, for
#: the same reason: their detectors are statistically controlled (h, alpha) and cheap in false alarms
#: (factory output 0.6, field returns 0.1 per 100 entity-weeks on the 365-day demo), so the models'
#: warnings add to theirs instead of replacing them. The incoming detectors (8.6) do not stand: the
#: incoming model uses them as evidence
DETECTOR_STANDS = COLD_START_DETECTOR
RULE_NAMES_DETECTOR = {"field_return": "exposure_poisson_test", "factory_output": "retest_aware_line_evidence"}


def cold_start(scope: str) -> dict:
    """The cold-start rule of ``scope``: name, words, inputs (the factors of its warnings), the
    score function and its own threshold."""
    if scope in COLD_START_DETECTOR:
        return {
            "name": RULE_NAMES_DETECTOR[scope],
            "description": DETECTOR_RULES[scope],
            "inputs": DETECTOR_INPUTS[scope],
            "score": lambda f: detector_score(scope, f),
            "threshold": DETECTOR_THRESHOLD[scope],
        }
    return {
        "name": RULE_NAMES[scope],
        "description": BASELINE_RULES[scope],
        "inputs": RULE_INPUTS[scope],
        "score": lambda f: baseline_score(scope, f),
        "threshold": BASELINE_THRESHOLD[scope],
    }
