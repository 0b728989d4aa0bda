"""``make eval-suite`` (``python -m bench.eval_suite``): the whole chain on several seeds, pooled.

One seed's world holds ten or so incidents per scope: enough to see a method work, not enough
to tell 60 % recall from 80 %. The suite runs ``make demo`` for each seed of a scenario, each in
its own ``ANDON_HOME`` (``<home>/suite/<scenario>-seed-<seed>``, so nothing is shared with the
user's demo), reads every run's evaluation report (``reports/evaluation-latest.json``, written by
``andon evaluate``) and pools them:

* **recall** = detected / incidents summed over seeds, with a Wilson 95 % interval, per scope and
  method, per incident kind and magnitude bucket, and at every matched false-alarm budget;
* **false alarms** per 100 monitored entity-weeks = summed false-alarm entity-weeks / summed
  monitored entity-weeks (Wilson interval);
* **lead days** (first warning vs the mart's "visible" day) pooled over every detected incident;
* **precision** of warning days, **decoys alarmed** summed.

It is a benchmark-like run, never a test: results go to ``bench/results/eval-suite-<ts>.json``
and ``eval-suite-latest.md``, and the summary in ``docs/evaluation.md`` is copied from there.
Only the pooling below is unit-tested.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml.evaluate import lead_stats, wilson

METHODS = ("model", "baseline")


def _pct(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{100 * v:.0f} %"


def _ci(p: float, ci: list[float]) -> str:
    if p != p:
        return "n/a"
    return f"{100 * p:.0f} % [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]"


def _lead(stats: dict[str, Any]) -> str:
    if not stats["n"]:
        return "n/a"
    return f"{stats['median']:+.1f} [{stats['q1']:+.1f}, {stats['q3']:+.1f}] (n={stats['n']})"


def _proportion(k: int, n: int) -> dict[str, Any]:
    return {"k": k, "n": n, "p": k / n if n else float("nan"), "ci": list(wilson(k, n))}


def pool_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool evaluation reports (``ml.evaluate.evaluate`` output) of several seeds.

    Sums counts across reports before computing any rate, so a seed with many incidents weighs
    more than one with few (the rates are of incidents and entity-weeks, not of seeds).
    """
    scopes: dict[str, dict[str, Any]] = {}
    kinds: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    budgets: list[float] = []
    for report in reports:
        budgets = report.get("false_alarm_budgets_per_100_entity_weeks", budgets)
        for scope, r in report["scopes"].items():
            for method in r.get("methods", METHODS):
                m = r[method]
                acc = scopes.setdefault(scope, {}).setdefault(method, {
                    "seeds": 0, "incidents": 0, "detected": 0, "leads": [], "false": 0, "entity_weeks": 0,
                    "warning_days": 0, "warning_days_in_window": 0, "decoys": 0, "decoys_alarmed": 0,
                    "at_budget": defaultdict(lambda: {"detected": 0, "incidents": 0, "false_per_100": []}),
                })
                acc["seeds"] += 1
                acc["incidents"] += m["incidents"]
                acc["detected"] += m["detected"]
                acc["leads"] += [p["lead_days"] for p in m["per_incident"] if p["lead_days"] is not None]
                acc["false"] += m["false_alarm_entity_weeks"]
                acc["entity_weeks"] += m["monitored_entity_weeks"]
                acc["warning_days"] += m["warning_days"]
                acc["warning_days_in_window"] += m["warning_days_in_window"]
                acc["decoys"] += m.get("decoys") or 0
                acc["decoys_alarmed"] += m.get("decoys_alarmed") or 0
                for key, b in m["at_budget"].items():
                    acc["at_budget"][key]["detected"] += b["detected"]
                    acc["at_budget"][key]["incidents"] += m["incidents"]
                    acc["at_budget"][key]["false_per_100"].append(b["false_alarms_per_100_entity_weeks"])
                for p in m["per_incident"]:
                    kinds[(scope, p["kind"], str(p["magnitude_bucket"]), method)].append(p)

    pooled: dict[str, Any] = {"seeds": len(reports), "budgets": budgets, "scopes": {}, "by_kind": []}
    for scope, methods in scopes.items():
        out = pooled["scopes"][scope] = {}
        for method, acc in methods.items():
            fa = _proportion(acc["false"], acc["entity_weeks"])
            out[method] = {
                "seeds": acc["seeds"],
                "recall": _proportion(acc["detected"], acc["incidents"]),
                "lead_days": lead_stats(acc["leads"]),
                "false_alarms_per_100_entity_weeks": {
                    "value": 100 * fa["p"] if fa["n"] else float("nan"),
                    "ci": [100 * v for v in fa["ci"]], "false_entity_weeks": fa["k"], "entity_weeks": fa["n"]},
                "precision": _proportion(acc["warning_days_in_window"], acc["warning_days"]),
                "decoys_alarmed": acc["decoys_alarmed"], "decoys": acc["decoys"],
                "recall_at_budget": {key: _proportion(b["detected"], b["incidents"])
                                     for key, b in sorted(acc["at_budget"].items(), key=lambda kv: float(kv[0]))},
            }
    for (scope, kind, bucket, method), ps in sorted(kinds.items()):
        det = sum(p["first_warning"] is not None for p in ps)
        row = {"scope": scope, "kind": kind, "magnitude_bucket": bucket, "method": method,
               "recall": _proportion(det, len(ps)),
               "lead_days": lead_stats([p["lead_days"] for p in ps if p["lead_days"] is not None])}
        for key in sorted({k for p in ps for k in p["detected_at_budget"]}, key=float):
            row[f"recall_at_budget_{key}"] = _proportion(sum(p["detected_at_budget"][key] for p in ps), len(ps))
        pooled["by_kind"].append(row)
    return pooled


def pooled_markdown(pooled: dict[str, Any], params: dict[str, Any]) -> str:
    """The suite's Markdown summary (what ``docs/evaluation.md`` quotes)."""
    keys = sorted({k for s in pooled["scopes"].values() for m in s.values() for k in m["recall_at_budget"]},
                  key=float)
    lines = [
        f"# Evaluation suite: scenario `{params.get('scenario')}`, seeds {params.get('seeds')}, "
        f"scale {params.get('scale')}, {params.get('days')} days",
        "",
        f"Pooled over {pooled['seeds']} seed(s): counts summed across seeds, then rates with Wilson 95 % intervals.",
        "",
        "| scope | method | incidents | recall (95 % CI) | lead days: median [q1, q3] | "
        "false alarms / 100 entity-weeks (95 % CI) | precision | decoys alarmed | "
        + " | ".join(f"recall @ {k} FA / 100 ew" for k in keys) + " |",
        "|" + "---|" * (8 + len(keys)),
    ]
    for scope, methods in pooled["scopes"].items():
        for method, m in methods.items():
            fa = m["false_alarms_per_100_entity_weeks"]
            fa_text = ("n/a" if fa["value"] != fa["value"]
                       else f"{fa['value']:.1f} [{fa['ci'][0]:.1f}, {fa['ci'][1]:.1f}]")
            at = " | ".join(_ci(m["recall_at_budget"][k]["p"], m["recall_at_budget"][k]["ci"])
                            if k in m["recall_at_budget"] else "n/a" for k in keys)
            lines.append(
                f"| {scope} | {method} | {m['recall']['n']} | {_ci(m['recall']['p'], m['recall']['ci'])} | "
                f"{_lead(m['lead_days'])} | {fa_text} | {_pct(m['precision']['p'])} | "
                f"{m['decoys_alarmed']} of {m['decoys']} | {at} |")
    lines += ["", "## Per incident kind and magnitude", "",
              "| scope | kind | magnitude | method | incidents | recall (95 % CI) | lead days: median [q1, q3] |",
              "|---|---|---|---|---|---|---|"]
    for r in pooled["by_kind"]:
        lines.append(f"| {r['scope']} | {r['kind']} | {r['magnitude_bucket']} | {r['method']} | "
                     f"{r['recall']['n']} | {_ci(r['recall']['p'], r['recall']['ci'])} | {_lead(r['lead_days'])} |")
    if params.get("runs"):
        lines += ["", "## Runs", "", "| seed | wall time | report |", "|---|---|---|"]
        for run in params["runs"]:
            lines.append(f"| {run['seed']} | {run['seconds'] / 60:.1f} min | {run['status']} |")
    return "\n".join(lines) + "\n"


def run_seed(scenario: str, seed: int, scale: float | None, days: int | None, home: Path) -> dict[str, Any]:
    """``make demo`` for one seed in its own ANDON_HOME; returns the seed's evaluation report."""
    args = ["make", "demo", f"SCENARIO={scenario}", f"SEED={seed}", f"ANDON_HOME={home}"]
    if scale is not None:
        args.append(f"SCALE={scale}")
    if days is not None:
        args.append(f"DAYS={days}")
    home.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(home / "suite-demo.log", "w") as log:
        code = subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()).returncode
    seconds = time.perf_counter() - started
    report_file = home / "reports" / "evaluation-latest.json"
    if code != 0 or not report_file.exists():
        raise RuntimeError(f"seed {seed}: `{' '.join(args)}` failed (exit {code}); log: {home / 'suite-demo.log'}")
    return {"seed": seed, "seconds": seconds, "status": "ok", "report": json.loads(report_file.read_text())}


def run(out_dir: str, scenario: str = "standard", seeds: tuple[int, ...] = (1, 2, 3), scale: float | None = None,
        days: int | None = None, home: str | None = None) -> dict[str, Any]:
    """Run the chain on every seed, pool the reports, write JSON + Markdown to ``out_dir``."""
    base = Path(home or os.environ.get("ANDON_HOME", ".andon")) / "suite"
    runs = []
    for seed in seeds:
        print(f"eval-suite: seed {seed} ({scenario}) ...", flush=True)
        runs.append(run_seed(scenario, seed, scale, days, base / f"{scenario}-seed-{seed}"))
        print(f"eval-suite: seed {seed} done in {runs[-1]['seconds'] / 60:.1f} min", flush=True)
    pooled = pool_reports([r["report"] for r in runs])
    params = {"scenario": scenario, "seeds": list(seeds), "scale": scale if scale is not None else "scenario's",
              "days": days if days is not None else "scenario's",
              "runs": [{k: v for k, v in r.items() if k != "report"} for r in runs]}
    result, md = write_results(out_dir, pooled, params)
    print(md)
    return result


def write_results(out_dir: str | Path, pooled: dict[str, Any], params: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Write ``eval-suite-<ts>.json`` and ``eval-suite-latest.md`` to ``out_dir``; returns the
    result written to the JSON and the Markdown."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {"generated_at": stamp, "params": params, "pooled": pooled}
    (out / f"eval-suite-{stamp}.json").write_text(json.dumps(result, indent=2, default=str))
    md = pooled_markdown(pooled, params)
    (out / "eval-suite-latest.md").write_text(md)
    return result, md


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_suite",
                                     description="the whole chain (make demo) on several seeds of a scenario, "
                                                 "evaluation reports pooled with Wilson intervals")
    parser.add_argument("--scenario", default="standard", help="scenario name or file (default: standard)")
    parser.add_argument("--seeds", default="1 2 3", help='seeds, space separated (default: "1 2 3")')
    parser.add_argument("--scale", type=float, default=None, help="simulator scale (default: the scenario's)")
    parser.add_argument("--days", type=int, default=None, help="days (default: the scenario's horizon)")
    parser.add_argument("--out", default="bench/results", help="folder for the results")
    parser.add_argument("--pool", nargs="*", metavar="REPORT_JSON",
                        help="only pool existing evaluation-*.json reports (no runs); written to --out like a run")
    args = parser.parse_args(argv)
    if args.pool is not None:
        if not args.pool:
            parser.error("--pool needs at least one report file")
        pooled = pool_reports([json.loads(Path(p).read_text()) for p in args.pool])
        params = {"scenario": args.scenario, "seeds": args.pool, "scale": args.scale, "days": args.days}
        print(write_results(args.out, pooled, params)[1])
        return 0
    try:
        seeds = tuple(int(s) for s in args.seeds.replace(",", " ").split())
    except ValueError:
        parser.error(f"--seeds must be integers, got {args.seeds!r}")
    if not seeds:
        parser.error("--seeds is empty")
    try:
        run(args.out, args.scenario, seeds, args.scale, args.days)
    except RuntimeError as exc:
        print(f"eval-suite: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
