"""``python -m bench.daily``: what a plant's daily run costs on an existing lakehouse.

Run it after ``make demo`` (it works on ``ANDON_HOME``, default ``.andon/``): in one process and
one Spark session (JVM start-up recorded separately, not counted), it times the three steps a
daily run does after one new landing day:

1. **land** every source for ``--day`` (default: the last landed day) with ``force``: every
   file of that day is parsed, conformed, gated and written again, which is the work of a new
   day (a day not seen before cannot be made up without changing the simulated world);
2. **mart**: the incremental ``dbt build`` (``build_mart(full=None)``, as the DAG runs it) --
   only what the re-landed day changed is recomputed;
3. **score** that day for the three scopes with the champions (``score_window``).

Content stays as it was (the re-landed files are the same), so the demo's state is unchanged
apart from new Delta versions. Results: ``daily-<ts>.json`` and ``daily-latest.md`` under
``--out``. Figures are recorded, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any


def last_landed_day(cfg) -> date:
    """The latest landing day in ``ops.landed_files`` (delta-rs, no JVM)."""
    from andon.tables import read_table

    ledger = read_table(cfg.table_path("ops", "landed_files"), ["landing_date"])
    if ledger is None or ledger.empty:
        raise ValueError(f"nothing landed under {cfg.table_path('ops', 'landed_files')}: run `make demo` first")
    return max(ledger["landing_date"])


def markdown(result: dict[str, Any]) -> str:
    s = result["seconds"]
    return "\n".join([
        f"# Daily run ({result['generated_at']})",
        "",
        f"- lakehouse: {result['landed_days']} landed days; day re-landed: {result['day']}; "
        f"load average {result['loadavg_start']} -> {result['loadavg_end']}",
        f"- Spark session start (not counted): {s['spark_start']:.1f} s",
        f"- land (all sources, one day, forced): {s['land']:.1f} s ({result['records']:,} records)",
        f"- quality mart, incremental dbt build: {s['mart']:.1f} s ({result['mart_reason']})",
        f"- scoring (3 scopes, champions): {s['score']:.1f} s",
        f"- **daily run after the JVM is up: {s['total']:.1f} s**",
        "",
    ])


def run(out_dir: str = "bench/results", day: str | None = None) -> dict[str, Any]:
    from andon.config import settings
    from andon.dictionary import load_dictionary
    from andon.spark import get_spark
    from andon.tables import read_table
    from bench.landing import _loadavg
    from ml.jobs import score_window
    from spark_jobs.landing.job import land_source
    from spark_jobs.mart.runner import build_mart

    cfg = settings()
    the_day = date.fromisoformat(day) if day else last_landed_day(cfg)
    ledger = read_table(cfg.table_path("ops", "landed_files"), ["landing_date"])
    load_start = _loadavg()
    t0 = time.perf_counter()
    spark = get_spark(cfg)
    t1 = time.perf_counter()
    records = 0
    for source in load_dictionary(cfg.raw["landing"]["data_dictionary"]).sources:
        for feed in land_source(source, [the_day], "bench-daily", force=True, cfg=cfg, spark=spark):
            records += sum(d.records_received for d in feed.days)
    if records == 0:
        raise ValueError(f"no records on {the_day}: choose a landed day with --day")
    t2 = time.perf_counter()
    mart = build_mart(cfg=cfg, full=None)
    t3 = time.perf_counter()
    score_window(the_day, the_day, models="champion", cfg=cfg)
    t4 = time.perf_counter()
    result = {
        "generated_at": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "day": the_day.isoformat(), "landed_days": int(ledger["landing_date"].nunique()), "records": records,
        "mart_reason": (f"full refresh: {mart['full_refresh_reason']}" if mart["mode"] == "full_refresh"
                        else "incremental, scope " + ", ".join(f"{k} {v}" for k, v in mart["scope"].items())),
        "seconds": {"spark_start": t1 - t0, "land": t2 - t1, "mart": t3 - t2, "score": t4 - t3, "total": t4 - t1},
        "loadavg_start": load_start, "loadavg_end": _loadavg(), "nproc": os.cpu_count(),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"daily-{result['generated_at']}.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "daily-latest.md").write_text(markdown(result))
    print(markdown(result))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.daily",
                                     description="time a daily run (land one day, incremental mart, score it) "
                                                 "on the lakehouse of ANDON_HOME (run make demo first)")
    parser.add_argument("--day", help="landing day to re-land (default: the last landed day)")
    parser.add_argument("--out", default="bench/results", help="folder for the results files")
    args = parser.parse_args(argv)
    try:
        run(args.out, args.day)
    except ValueError as exc:
        print(f"bench.daily: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
