"""Pooling of the evaluation suite (``bench.eval_suite``): counts are summed before rates."""

from __future__ import annotations

import pytest

from bench.eval_suite import pool_reports, pooled_markdown
from ml.evaluate import wilson


def _incident(kind: str, bucket: str, first: str | None, lead: float | None, at_budget: bool) -> dict:
    return {"kind": kind, "magnitude_bucket": bucket, "first_warning": first, "lead_days": lead,
            "detected_at_budget": {"1": at_budget}}


def _method(per_incident: list[dict], false: int, entity_weeks: int, warn_days: int, in_window: int) -> dict:
    detected = sum(p["first_warning"] is not None for p in per_incident)
    return {"incidents": len(per_incident), "detected": detected, "per_incident": per_incident,
            "false_alarm_entity_weeks": false, "monitored_entity_weeks": entity_weeks,
            "warning_days": warn_days, "warning_days_in_window": in_window, "decoys": 2, "decoys_alarmed": 1,
            "at_budget": {"1": {"detected": sum(p["detected_at_budget"]["1"] for p in per_incident),
                                "false_alarms_per_100_entity_weeks": 1.0}}}


def _report(model: dict, baseline: dict) -> dict:
    return {"false_alarm_budgets_per_100_entity_weeks": [1.0],
            "scopes": {"incoming_material": {"methods": ["model", "baseline"], "model": model, "baseline": baseline}}}


def test_pooling_sums_counts_across_seeds_before_computing_rates():
    seed1 = _report(
        _method([_incident("defective_lot", "2%", "2026-01-05", 3.0, True),
                 _incident("defective_lot", "7%", "2026-02-01", -1.0, False),
                 _incident("supplier_process_change", "n/a", None, None, False)], 2, 100, 10, 6),
        _method([_incident("defective_lot", "2%", None, None, False)] * 3, 0, 100, 0, 0))
    seed2 = _report(
        _method([_incident("defective_lot", "2%", None, None, False)] * 4
                + [_incident("defective_lot", "7%", "2026-05-01", 5.0, True)], 0, 50, 4, 1),
        _method([_incident("defective_lot", "2%", "2026-05-02", 0.0, True)] * 5, 6, 50, 20, 5))

    pooled = pool_reports([seed1, seed2])

    model = pooled["scopes"]["incoming_material"]["model"]
    assert pooled["seeds"] == 2 and model["seeds"] == 2
    # 3 of 8 incidents (not the mean of 2/3 and 1/5)
    assert (model["recall"]["k"], model["recall"]["n"]) == (3, 8)
    assert model["recall"]["ci"] == pytest.approx(list(wilson(3, 8)))
    assert model["false_alarms_per_100_entity_weeks"]["value"] == pytest.approx(100 * 2 / 150)
    assert model["false_alarms_per_100_entity_weeks"]["ci"] == pytest.approx([100 * v for v in wilson(2, 150)])
    assert model["lead_days"]["n"] == 3 and model["lead_days"]["median"] == 3.0
    assert (model["precision"]["k"], model["precision"]["n"]) == (7, 14)
    assert (model["decoys_alarmed"], model["decoys"]) == (2, 4)
    assert (model["recall_at_budget"]["1"]["k"], model["recall_at_budget"]["1"]["n"]) == (2, 8)

    base = pooled["scopes"]["incoming_material"]["baseline"]
    assert (base["recall"]["k"], base["recall"]["n"]) == (5, 8)

    rows = {(r["kind"], r["magnitude_bucket"], r["method"]): r for r in pooled["by_kind"]}
    two = rows[("defective_lot", "2%", "model")]["recall"]
    assert (two["k"], two["n"]) == (1, 5)
    assert rows[("defective_lot", "7%", "model")]["recall"]["n"] == 2
    assert rows[("defective_lot", "7%", "model")]["recall_at_budget_1"]["k"] == 1
    assert rows[("supplier_process_change", "n/a", "model")]["recall"]["k"] == 0

    md = pooled_markdown(pooled, {"scenario": "standard", "seeds": [1, 2], "scale": 0.3, "days": 365})
    assert "| incoming_material | model | 8 | 38 %" in md
    assert "| incoming_material | defective_lot | 2% | model | 5 | 20 %" in md


def test_pooling_of_no_reports_is_empty():
    assert pool_reports([]) == {"seeds": 0, "budgets": [], "scopes": {}, "by_kind": []}


def test_pool_only_writes_its_results_like_a_run(tmp_path):
    import json

    from bench.eval_suite import main

    r1 = tmp_path / "r1.json"
    r1.write_text(json.dumps(_report(
        _method([_incident("defective_lot", "2%", "2026-01-05", 3.0, True)], 1, 100, 2, 1),
        _method([_incident("defective_lot", "2%", None, None, False)], 0, 100, 0, 0))))
    out = tmp_path / "out"
    assert main(["--pool", str(r1), "--out", str(out), "--scale", "0.3"]) == 0
    (written,) = out.glob("eval-suite-*.json")
    result = json.loads(written.read_text())
    assert result["params"]["scale"] == 0.3 and result["params"]["seeds"] == [str(r1)]
    assert result["pooled"]["scopes"]["incoming_material"]["model"]["recall"]["k"] == 1
    assert "incoming_material" in (out / "eval-suite-latest.md").read_text()
