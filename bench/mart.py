"""``python -m bench.mart``: the dbt quality mart, full refresh against incremental after one new day.

What one run does, in one process and one Spark session, in a temporary ``ANDON_HOME``:

1. simulate ``days + 1`` days (seed 42 from 2026-03-02) and land the first ``days`` of them
   (recorded, not the point);
2. **full**: ``build_mart(full_refresh=True)`` -- what the first build (or a code change) costs;
3. land day ``days + 1`` (every source);
4. **incremental**: ``build_mart()`` as the DAG runs it (incremental marts recompute the days,
   weeks and lots the new day touched; unit tests skipped: they run on full refreshes);
5. **full again**: ``build_mart(full_refresh=True)`` on the same silver, for comparison.

Each build reports its wall time, dbt's own per-node times by kind (models, data tests, unit
tests; from ``run_results.json``), the five slowest nodes and the peak resident memory of the
process tree (Python + the Spark JVM) while it ran. Results go to
``<out>/mart-<UTC timestamp>.json`` and ``<out>/mart-latest.md``; never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.landing import KEEP_ENV, SEED, START, landing_window, machine_info

RUN_ID = "bench-mart"


# ----------------------------------------------------------------------------- pure helpers


def node_breakdown(run_results: dict[str, Any], slowest: int = 5) -> dict[str, Any]:
    """Seconds per node kind (model, test, unit_test, ...) and the slowest nodes of one dbt run (pure)."""
    kinds: dict[str, dict[str, float]] = {}
    nodes = []
    for result in run_results.get("results", []):
        kind = result["unique_id"].split(".", 1)[0]
        entry = kinds.setdefault(kind, {"nodes": 0, "seconds": 0.0})
        entry["nodes"] += 1
        entry["seconds"] += float(result.get("execution_time") or 0.0)
        nodes.append((float(result.get("execution_time") or 0.0), result["unique_id"].split(".")[-1]))
    for entry in kinds.values():
        entry["seconds"] = round(entry["seconds"], 1)
    return {
        "dbt_elapsed_seconds": round(float(run_results.get("elapsed_time") or 0.0), 1),
        "by_kind": kinds,
        "slowest": [{"node": name, "seconds": round(s, 1)} for s, name in sorted(nodes, reverse=True)[:slowest]],
    }


def tree_rss_bytes(pid: int, proc: Path = Path("/proc")) -> int:
    """Resident memory of ``pid`` and all its descendants (Linux /proc; 0 when unreadable)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        child = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip() or 0), []).append(child)
        rss[child] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024 if "VmRSS" in fields else 0
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


class PeakRss:
    """Samples the resident memory of this process tree every ``interval`` seconds."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(os.getpid()))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def format_markdown(results: dict[str, Any]) -> str:
    """A short Markdown table of the builds (pure)."""
    p, m = results["params"], results["machine"]
    lines = [
        f"# dbt quality mart: full refresh vs incremental ({results['timestamp']})",
        "",
        f"{p['days']} days landed at scale {p['scale']}, then one more day; "
        f"{m.get('nproc')} CPUs, {m.get('mem_total_gib')} GiB, "
        f"load {m.get('loadavg_start')} -> {m.get('loadavg_end')}.",
        "",
        "| build | wall s | dbt models s | data tests s | unit tests s | peak RSS GiB | scope |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, build in results["builds"].items():
        kinds = build["nodes"]["by_kind"]
        lines.append("| {} | {} | {} | {} | {} | {} | {} |".format(
            name, build["seconds"], kinds.get("model", {}).get("seconds", "-"),
            kinds.get("test", {}).get("seconds", "-"), kinds.get("unit_test", {}).get("seconds", "-"),
            build["peak_rss_gib"], ", ".join(f"{k} {v}" for k, v in build["scope"].items()) or "all"))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- measurement


def _say(message: str) -> None:
    print(f"bench.mart: {message}", file=sys.stderr, flush=True)


def _build(cfg, **kwargs) -> dict[str, Any]:
    from spark_jobs.mart.runner import build_mart, dbt_paths

    t0 = time.perf_counter()
    with PeakRss() as peak:
        summary = build_mart(cfg=cfg, **kwargs)
    seconds = time.perf_counter() - t0
    run_results = json.loads((dbt_paths()["target"] / "run_results.json").read_text())
    return {"seconds": round(seconds, 1), "mode": summary["mode"], "scope": summary["scope"],
            "peak_rss_gib": round(peak.peak / 2**30, 2), "nodes": node_breakdown(run_results)}


def _land(spark, cfg, sources, days) -> float:
    from spark_jobs.landing.job import land_source

    t0 = time.perf_counter()
    for source in sources:
        land_source(source, days, RUN_ID, cfg=cfg, spark=spark)
    return round(time.perf_counter() - t0, 1)


def run(out_dir: str, days: int = 45, scale: float = 0.1) -> dict[str, Any]:
    """Measure the mart builds (module docstring); returns the results and writes them under ``out_dir``."""
    from pyspark.sql import SparkSession

    if SparkSession.getActiveSession() is not None:
        raise ValueError("a Spark session is already active in this process; run the benchmark on its own")
    from andon.config import load_settings
    from andon.dictionary import load_dictionary
    from andon.spark import get_spark
    from simulator import simulate

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    home = Path(tempfile.mkdtemp(prefix="andon-bench-mart-"))
    previous_home = os.environ.get("ANDON_HOME")
    os.environ["ANDON_HOME"] = str(home)  # the runner keeps dbt's target/ and state under ANDON_HOME
    spark = None
    try:
        cfg = load_settings(environ={**os.environ, "ANDON_HOME": str(home)})
        spark = get_spark(cfg)
        loadavg_start = round(os.getloadavg()[0], 2)
        simulate(Path(cfg.landing_root), days=days + 1, seed=SEED, scale=scale, start=START)
        window = landing_window(days + 1)
        sources = load_dictionary(cfg.raw["landing"]["data_dictionary"]).sources
        landing_seconds = _land(spark, cfg, sources, window[:-1])
        _say(f"landed {days} days in {landing_seconds} s")
        builds = {"full refresh": _build(cfg, full=None, full_refresh=True)}
        _say(f"full refresh: {builds['full refresh']['seconds']} s")
        new_day_seconds = _land(spark, cfg, sources, window[-1:])
        builds["incremental (1 new day)"] = _build(cfg, full=None)
        _say(f"incremental: {builds['incremental (1 new day)']['seconds']} s")
        builds["full refresh (same state)"] = _build(cfg, full=None, full_refresh=True)
        machine = machine_info(spark)
        machine["loadavg_start"], machine["loadavg_end"] = loadavg_start, round(os.getloadavg()[0], 2)
        results = {
            "benchmark": "mart",
            "timestamp": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine,
            "params": {"days": days, "scale": scale, "seed": SEED, "start": START.isoformat()},
            "landing_seconds": {"history": landing_seconds, "new_day": new_day_seconds},
            "builds": builds,
        }
    finally:
        if spark is not None:
            spark.stop()
        if previous_home is None:
            os.environ.pop("ANDON_HOME", None)
        else:
            os.environ["ANDON_HOME"] = previous_home
        if os.environ.get(KEEP_ENV) == "1":
            _say(f"{KEEP_ENV}=1: kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    (out / f"mart-{started.strftime('%Y%m%dT%H%M%SZ')}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "mart-latest.md").write_text(format_markdown(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=45, help="days of history before the new day (default 45)")
    parser.add_argument("--scale", type=float, default=0.1, help="simulator scale (default 0.1)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"),
                        help="where to write mart-<timestamp>.json and mart-latest.md (default bench/results)")
    args = parser.parse_args(argv)
    if args.days < 1 or args.scale <= 0:
        parser.error("--days must be >= 1 and --scale > 0")
    print(format_markdown(run(args.out, days=args.days, scale=args.scale)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
