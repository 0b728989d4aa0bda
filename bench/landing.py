"""``make bench`` (``python -m bench``): landing throughput against a plain Spark Parquet write.

What one run does, in one process and one Spark session:

1. **Isolate.** A temporary ``ANDON_HOME`` (``tempfile.mkdtemp``) holds the landing zone, the
   lakehouse, the Derby metastore and the pseudonymisation key, so the benchmark never reads or
   writes the user's ``.andon/``. The Spark session is created first, from that configuration.
2. **Simulate** ``--days`` days at ``--scale`` into ``<tmp>/landing`` (not timed in the figures
   that matter; its duration is recorded for information).
3. **Land** every source of the data dictionary with
   :func:`spark_jobs.landing.job.land_source`, timing each source and the whole loop (wall
   clock). Rows are the records received (sum of ``DayQuality.records_received``).
4. **Lower bound.** Read back every bronze Delta table, ``cache()`` and ``count()`` it (so the
   read is not timed), then time ``df.write.mode("overwrite").parquet(<tmp>/plain/<feed>)``.
5. **Report.** Print a short table, write ``<out>/landing-<UTC timestamp>.json`` and overwrite
   ``<out>/latest.md``. Remove the temporary home (kept when ``ANDON_BENCH_KEEP=1``) and stop
   Spark.

Landing parses, validates, conforms, quality-gates and writes bronze, quarantine, silver and DQ
results with atomic Delta commits; a plain Parquet write of the same rows is the floor. The
*ratio* reported is ``parquet rows/s / landing rows/s``: how many times slower landing is.

The figures depend on the machine and on whatever else runs on it; they are recorded, never
asserted. Only the pure helpers below (rates, ratio, result assembly, formatting) are tested.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

#: Simulator parameters of every benchmark run (only days and scale are options).
SEED = 42
START = date(2026, 3, 2)
RUN_ID = "bench"
KEEP_ENV = "ANDON_BENCH_KEEP"


# ----------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class Timing:
    """One measured step: ``rows`` handled in ``seconds`` of wall-clock time."""

    name: str
    rows: int
    seconds: float


def rate(rows: int | float | None, seconds: float | None) -> float | None:
    """Rows per second, or ``None`` when the duration is missing, zero or negative."""
    if rows is None or seconds is None or seconds <= 0:
        return None
    return rows / seconds


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or ``None`` when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def timing_entry(timing: Timing) -> dict[str, Any]:
    """A :class:`Timing` as a JSON-able mapping with its rate."""
    return {
        "name": timing.name,
        "rows": int(timing.rows),
        "seconds": round(timing.seconds, 3),
        "rows_per_s": _round(rate(timing.rows, timing.seconds)),
    }


def build_results(
    *,
    timestamp: str,
    machine: dict[str, Any],
    params: dict[str, Any],
    landing: list[Timing],
    landing_wall_seconds: float,
    parquet: list[Timing],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the results document from raw measurements (pure; unit-tested).

    The landing total uses the wall clock of the whole loop over sources (``landing_wall_seconds``);
    the Parquet total is the sum of the timed writes, reads being excluded by design. The ratio
    compares rates, so it stays meaningful even if the two row counts were ever to differ
    (``rows_match`` says whether they do).
    """
    landing_rows = sum(t.rows for t in landing)
    parquet_rows = sum(t.rows for t in parquet)
    parquet_seconds = sum(t.seconds for t in parquet)
    landing_rate = rate(landing_rows, landing_wall_seconds)
    parquet_rate = rate(parquet_rows, parquet_seconds)
    return {
        "benchmark": "landing-vs-parquet",
        "timestamp": timestamp,
        "machine": machine,
        "params": params,
        "landing": {
            "sources": [timing_entry(t) for t in landing],
            "total": timing_entry(Timing("total", landing_rows, landing_wall_seconds)),
        },
        "parquet": {
            "feeds": [timing_entry(t) for t in parquet],
            "total": timing_entry(Timing("total", parquet_rows, parquet_seconds)),
        },
        "rows_match": landing_rows == parquet_rows,
        # How many times faster the plain Parquet write is than landing (rows/s over rows/s).
        "ratio": _round(ratio(parquet_rate, landing_rate), 2),
        **(extra or {}),
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def fmt_int(value: int | float | None) -> str:
    """``12345.6`` -> ``"12,346"``; ``None`` -> ``"n/a"``."""
    return "n/a" if value is None else f"{round(value):,}"


def fmt_rate(value: float | None) -> str:
    """Rows/s: whole numbers, but one decimal below 100 so tiny feeds do not show ``0``."""
    if value is None:
        return "n/a"
    return f"{value:,.1f}" if value < 100 else f"{round(value):,}"


def fmt_seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}x"


def _table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(step, rows, seconds, rows/s) for every line of the summary table."""
    rows = [(f"landing {s['name']}", fmt_int(s["rows"]), fmt_seconds(s["seconds"]), fmt_rate(s["rows_per_s"]))
            for s in results["landing"]["sources"]]
    total = results["landing"]["total"]
    rows.append(("landing total", fmt_int(total["rows"]), fmt_seconds(total["seconds"]),
                 fmt_rate(total["rows_per_s"])))
    plain = results["parquet"]["total"]
    rows.append(("plain Parquet write", fmt_int(plain["rows"]), fmt_seconds(plain["seconds"]),
                 fmt_rate(plain["rows_per_s"])))
    return rows


def _machine_line(machine: dict[str, Any]) -> str:
    return (f"{machine.get('nproc', '?')} CPUs, {machine.get('mem_total_gib', '?')} GiB RAM; "
            f"Python {machine.get('python', '?')}, PySpark {machine.get('pyspark', '?')}, "
            f"delta-spark {machine.get('delta_spark', '?')}, Spark master {machine.get('spark_master', '?')}")


def format_markdown(results: dict[str, Any]) -> str:
    """The ``latest.md`` document: context lines, one table, the ratio (pure; unit-tested)."""
    params = results["params"]
    machine = results["machine"]
    lines = [
        "# Landing benchmark: latest run",
        "",
        f"- Timestamp (UTC): {results['timestamp']}",
        f"- Machine: {_machine_line(machine)}",
        f"- Load average (1 min) at start / end: {machine.get('loadavg_start', 'n/a')} / "
        f"{machine.get('loadavg_end', 'n/a')}",
        f"- Workload: {params['days']} simulated days at scale {params['scale']} "
        f"(seed {params.get('seed', '?')}, from {params.get('start', '?')})",
        "",
        "| Step | Rows | Seconds | Rows/s |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {step} | {n} | {s} | {r} |" for step, n, s, r in _table_rows(results)]
    lines += [
        "",
        f"**Ratio:** the plain Parquet write is {fmt_ratio(results['ratio'])} faster than landing "
        "(rows/s over rows/s).",
    ]
    if not results.get("rows_match", True):
        lines.append("")
        lines.append("**Warning:** the Parquet write did not see the same number of rows as landing.")
    lines += _extra_lines(results)
    lines += ["", "See `bench/README.md` for what is measured and how to read it.", ""]
    return "\n".join(lines)


def _extra_lines(results: dict[str, Any]) -> list[str]:
    """Markdown for the figures beyond the landing/Parquet table (absent in older results)."""
    lines: list[str] = []
    shares = results.get("landing_percent_of")
    if shares:
        lines += ["", f"**Landing rows/s as a share of:** the plain Parquet write {shares.get('parquet', 'n/a')} %, "
                      f"DuckDB (read the landing files, write Parquet) {shares.get('duckdb', 'n/a')} %."]
    duck = results.get("duckdb")
    if duck:
        lines += ["", "| DuckDB feed | Rows | Seconds | Rows/s | Reader |", "|---|---:|---:|---:|---|"]
        lines += [f"| {f['name']} | {fmt_int(f['rows'])} | {fmt_seconds(f['seconds'])} | {fmt_rate(f['rows_per_s'])} "
                  f"| {f.get('reader', '')} |" for f in duck["feeds"]]
        total = duck["total"]
        lines.append(f"| total | {fmt_int(total['rows'])} | {fmt_seconds(total['seconds'])} | "
                     f"{fmt_rate(total['rows_per_s'])} | |")
    overhead = results.get("overhead")
    if overhead:
        lines += ["", "| Per-feed cost (s) | " + " | ".join(overhead["feeds"]) + " | mean | max |",
                  "|---|" + "---:|" * (len(overhead["feeds"]) + 2)]
        for key, label in (("noop", "re-land a landed day (nothing new)"),
                           ("new_day", "land one day's data (forced re-land)")):
            row = overhead.get(key)
            if row:
                cells = [fmt_seconds(row["per_feed"].get(f)) for f in overhead["feeds"]]
                lines.append(f"| {label} | " + " | ".join(cells) +
                             f" | {fmt_seconds(row['mean_seconds'])} | {fmt_seconds(row['max_seconds'])} |")
    steps = results.get("landing_steps")
    if steps:
        names = sorted({k for feed in steps.values() for k in feed})
        lines += ["", "| Seconds per step | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        lines += [f"| {feed} | " + " | ".join(fmt_seconds(per.get(n)) for n in names) + " |"
                  for feed, per in steps.items()]
    rss = results.get("peak_rss_gib")
    if rss:
        lines += ["", f"**Peak RSS:** Python process {rss.get('python', 'n/a')} GiB, "
                      f"Spark JVM {rss.get('jvm', 'n/a')} GiB."]
    return lines


def format_console(results: dict[str, Any]) -> str:
    """A short aligned text table for the terminal (pure; unit-tested)."""
    header = ("step", "rows", "seconds", "rows/s")
    rows = [header, *_table_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]

    def line(r: tuple[str, ...]) -> str:
        return "  ".join([r[0].ljust(widths[0]), *(r[i].rjust(widths[i]) for i in range(1, 4))])

    out = [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows[1:])]
    out.append(f"ratio: plain Parquet is {fmt_ratio(results['ratio'])} faster than landing")
    return "\n".join(out)


def mem_total_bytes(meminfo: str) -> int | None:
    """``MemTotal`` from the text of ``/proc/meminfo``, in bytes (``None`` if absent)."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            factor = 1024 if len(parts) > 2 and parts[2].lower() == "kb" else 1
            return int(parts[1]) * factor
    return None


def results_filename(when: datetime) -> str:
    """``landing-20260302T141500Z.json`` for a UTC ``when``."""
    return f"landing-{when.astimezone(UTC):%Y%m%dT%H%M%SZ}.json"


def landing_window(days: int, start: date = START) -> list[date]:
    """The business days the simulator writes: ``start`` and the following ``days - 1`` days."""
    return [start + timedelta(days=i) for i in range(days)]


def vm_hwm_bytes(status: str) -> int | None:
    """Peak resident set (``VmHWM``) from the text of ``/proc/<pid>/status``, in bytes."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            parts = line.split()
            return int(parts[1]) * (1024 if len(parts) > 2 and parts[2].lower() == "kb" else 1)
    return None


def percent(part: float | None, whole: float | None) -> float | None:
    """``100 * part / whole`` rounded to 0.1, or ``None`` (e.g. landing rows/s as a share of Parquet rows/s)."""
    value = ratio(part, whole)
    return None if value is None else round(100.0 * value, 1)


def duckdb_query(fmt: str, files: list[str], *, delimiter: str = ",", record_path: str | None = None) -> str | None:
    """The DuckDB ``SELECT`` that reads one feed's landing files as a user would (None: DuckDB has no reader).

    CSV as text with the header, JSON lines as objects, a nested JSON document unnested at
    ``record_path``; bad lines are skipped (``ignore_errors``), so DuckDB may see fewer rows
    than landing, which keeps and quarantines every record.
    """
    listing = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    if fmt == "csv":
        sep = delimiter.replace("'", "''")
        return (f"SELECT * FROM read_csv({listing}, delim = '{sep}', header = true, all_varchar = true, "
                "ignore_errors = true, union_by_name = true)")
    if fmt == "jsonl":
        return (f"SELECT * FROM read_json({listing}, format = 'newline_delimited', ignore_errors = true, "
                "union_by_name = true)")
    if fmt == "json":
        return (f"SELECT unnest({record_path or 'records'}, recursive := true) FROM read_json({listing}, "
                "ignore_errors = true, union_by_name = true)")
    return None


def summarize_overhead(per_feed: dict[str, float]) -> dict[str, float | None]:
    """Mean and maximum seconds per feed of a run that had (almost) nothing to land."""
    values = list(per_feed.values())
    return {"mean_seconds": round(sum(values) / len(values), 2) if values else None,
            "max_seconds": round(max(values), 2) if values else None}


# ----------------------------------------------------------------------------- machine facts


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what `nproc` reports
    except AttributeError:  # not Linux
        return os.cpu_count() or 0


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def machine_info(spark) -> dict[str, Any]:
    """CPUs, memory, versions and Spark master of this run."""
    try:
        total = mem_total_bytes(Path("/proc/meminfo").read_text(encoding="utf-8"))
    except OSError:
        total = None
    return {
        "nproc": _nproc(),
        "mem_total_gib": None if total is None else round(total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pyspark": _version("pyspark"),
        "delta_spark": _version("delta-spark"),
        "spark_version": spark.version,
        "spark_master": spark.sparkContext.master,
        "java": spark.sparkContext._jvm.System.getProperty("java.version"),
    }


# ----------------------------------------------------------------------------- measurement


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _land_all(spark, cfg, sources: list[str], days: list[date]) -> tuple[list[Timing], float, dict, dict]:
    """Land every source; returns per-source timings, the loop's wall time, per-source detail and
    the seconds per step of every feed (``FeedResult.seconds``)."""
    from spark_jobs.landing.job import land_source

    timings: list[Timing] = []
    detail: dict[str, Any] = {}
    steps: dict[str, dict[str, float]] = {}
    loop_start = time.perf_counter()
    for source in sources:
        t0 = time.perf_counter()
        results = land_source(source, days, RUN_ID, cfg=cfg, spark=spark)
        seconds = time.perf_counter() - t0
        quality = [d for feed in results for d in feed.days]
        rows = sum(d.records_received for d in quality)
        timings.append(Timing(source, rows, seconds))
        steps.update({feed.feed: dict(feed.seconds) for feed in results})
        detail[source] = {
            "feeds": {feed.feed: sum(d.records_received for d in feed.days) for feed in results},
            "bronze_rows": sum(d.bronze_rows for d in quality),
            "silver_rows": sum(d.silver_rows for d in quality),
            "quarantined_rows": sum(d.quarantined_rows for d in quality),
            "quarantined_by_reason": _sum_reasons(d.quarantined_by_reason for d in quality),
            "collapsed_replays": sum(d.collapsed_replays for d in quality),
            "failed_gate_days": sum(1 for d in quality if d.status == "failed_gate"),
        }
        _say(f"landed {source}: {rows:,} rows in {seconds:.1f} s")
    return timings, time.perf_counter() - loop_start, detail, steps


def _per_feed_seconds(spark, cfg, dd, days: list[date], run_id: str, force: bool = False) -> dict[str, float]:
    """Wall seconds of :func:`land_feed` for every feed on ``days``."""
    from spark_jobs.landing.job import land_feed

    out = {}
    for feed in dd.feeds.values():
        t0 = time.perf_counter()
        land_feed(spark, cfg, dd, feed, days, run_id, force)
        out[feed.name] = round(time.perf_counter() - t0, 2)
    return out


def _overhead(spark, cfg, dd, landed_day: date, last_day: date) -> dict[str, Any]:
    """Per-feed cost of a run with nothing new (re-landing ``landed_day``) and of one day's data
    (``last_day`` re-landed with ``force``: every file parsed, conformed, gated and written again,
    as for a new day)."""
    noop = _per_feed_seconds(spark, cfg, dd, [landed_day], "bench-noop")
    fresh = _per_feed_seconds(spark, cfg, dd, [last_day], "bench-new-day", force=True)
    return {"feeds": list(dd.feeds), "noop": {"day": landed_day.isoformat(), "per_feed": noop,
                                               **summarize_overhead(noop)},
            "new_day": {"day": last_day.isoformat(), "per_feed": fresh, **summarize_overhead(fresh)}}


def _duckdb_all(dd, landing_root: Path, days: list[date], out_root: Path) -> list[dict[str, Any]]:
    """DuckDB reads each feed's landing files of ``days`` and writes them to Parquet (timed, per feed)."""
    import fnmatch

    import duckdb

    feeds = []
    for feed in dd.feeds.values():
        files = sorted(str(p) for d in days for p in (landing_root / feed.source / d.isoformat()).glob("*")
                       if p.is_file() and fnmatch.fnmatchcase(p.name, feed.file_glob))
        target = out_root / f"{feed.name}.parquet"
        out_root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        con = duckdb.connect()
        query = duckdb_query(feed.format, files, delimiter=feed.delimiter, record_path=feed.record_path)
        reader = "duckdb"
        if not files:
            rows, reader = 0, "no files"
        elif query is None:
            # DuckDB has no XML reader: the project's parser hands DuckDB an Arrow table.
            from spark_jobs.landing.bronze import bronze_arrow
            from spark_jobs.landing.ledger import LandingFile, file_sha256

            table = bronze_arrow(feed, [LandingFile(f"{feed.source}/{Path(f).parent.name}/{Path(f).name}",
                                                    date.fromisoformat(Path(f).parent.name), file_sha256(f), f)
                                        for f in files], RUN_ID)
            con.register("xml_rows", table)
            con.execute(f"COPY (SELECT * FROM xml_rows) TO '{target}' (FORMAT parquet)")
            rows = table.num_rows
            reader = "project parser -> Arrow (no DuckDB XML reader)"
        else:
            rows = con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet)").fetchone()[0]
        con.close()
        seconds = time.perf_counter() - t0
        feeds.append({**timing_entry(Timing(feed.name, rows, seconds)), "reader": reader})
    return feeds


def _peak_rss(spark) -> dict[str, float | None]:
    """Peak RSS of this Python process and of the Spark JVM (its ``VmHWM``), GiB."""
    import resource

    python = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # KiB on Linux
    jvm = None
    try:
        pid = spark.sparkContext._gateway.proc.pid
        jvm = vm_hwm_bytes(Path(f"/proc/{pid}/status").read_text(encoding="utf-8"))
    except (AttributeError, OSError):
        pass
    return {"python": round(python / 2**30, 2), "jvm": None if jvm is None else round(jvm / 2**30, 2)}


def _sum_reasons(per_day) -> dict[str, int]:
    totals: dict[str, int] = {}
    for reasons in per_day:
        for reason, count in (reasons or {}).items():
            totals[reason] = totals.get(reason, 0) + int(count)
    return dict(sorted(totals.items()))


def _parquet_all(spark, cfg, feeds, plain_root: Path) -> list[Timing]:
    """Time a plain Parquet write of every bronze table, read and cached beforehand (untimed)."""
    from andon.delta import is_delta_table

    timings: list[Timing] = []
    for feed in feeds:
        path = cfg.table_path("bronze", feed.bronze_table)
        if not is_delta_table(spark, path):
            timings.append(Timing(feed.name, 0, 0.0))
            continue
        df = spark.read.format("delta").load(path).cache()
        rows = df.count()  # materialises the cache: the read is not part of the timing
        t0 = time.perf_counter()
        df.write.mode("overwrite").parquet(str(plain_root / feed.name))
        seconds = time.perf_counter() - t0
        df.unpersist(blocking=True)
        timings.append(Timing(feed.name, rows, seconds))
    return timings


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run(out_dir: str, days: int = 14, scale: float = 1.0, **_: Any) -> dict[str, Any]:
    """Run the benchmark for ``days`` at ``scale``; write JSON and Markdown under ``out_dir``; return the results.

    Besides the landing and the plain Parquet write: DuckDB reading the same landing files and
    writing Parquet, the per-feed cost of a run with nothing new (re-landing the first day) and
    of one day's data (the last day re-landed with ``force``), the seconds per landing step
    of every feed, and the peak RSS of the Python process and of the Spark JVM.
    """
    if days < 1:
        raise ValueError("--days must be >= 1")
    if scale <= 0:
        raise ValueError("--scale must be > 0")

    from pyspark.sql import SparkSession

    if SparkSession.getActiveSession() is not None:
        # get_spark() would hand back that session, configured for another ANDON_HOME.
        raise ValueError("a Spark session is already active in this process; run the benchmark on its own")

    from andon.config import load_settings
    from andon.dictionary import load_dictionary
    from andon.spark import get_spark
    from simulator import simulate

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    loadavg_start = _loadavg()
    home = Path(tempfile.mkdtemp(prefix="andon-bench-"))
    keep = os.environ.get(KEEP_ENV) == "1"
    spark = None
    try:
        cfg = load_settings(environ={**os.environ, "ANDON_HOME": str(home)})
        t0 = time.perf_counter()
        spark = get_spark(cfg)  # first: everything below must use this session and this cfg
        spark_start_seconds = time.perf_counter() - t0
        _say(f"Spark {spark.version} ({spark.sparkContext.master}) up in {spark_start_seconds:.1f} s; "
             f"ANDON_HOME={home}")

        t0 = time.perf_counter()
        simulate(Path(cfg.landing_root), days=days, seed=SEED, scale=scale, start=START)
        simulate_seconds = time.perf_counter() - t0
        _say(f"simulated {days} days at scale {scale} in {simulate_seconds:.1f} s")

        dd = load_dictionary(cfg.raw["landing"]["data_dictionary"])
        window = landing_window(days)
        landing, landing_wall, detail, steps = _land_all(spark, cfg, dd.sources, window)
        _say(f"landing done in {landing_wall:.1f} s; timing a plain Parquet write of the bronze rows")
        parquet = _parquet_all(spark, cfg, list(dd.feeds.values()), home / "plain")
        _say("timing DuckDB on the same landing files")
        duck = _duckdb_all(dd, Path(cfg.landing_root), window, home / "duckdb")
        _say("measuring the per-feed cost of a run with nothing new and of one new day")
        overhead = _overhead(spark, cfg, dd, window[0], window[-1])
        rss = _peak_rss(spark)

        machine = machine_info(spark)
        machine["loadavg_start"] = loadavg_start
        machine["loadavg_end"] = _loadavg()
        machine["duckdb"] = _version("duckdb")
        duck_rows = sum(f["rows"] for f in duck)
        duck_seconds = sum(f["seconds"] for f in duck)
        landing_rate = rate(sum(t.rows for t in landing), landing_wall)
        results = build_results(
            timestamp=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            machine=machine,
            params={"days": days, "scale": scale, "seed": SEED, "start": START.isoformat(), "run_id": RUN_ID},
            landing=landing,
            landing_wall_seconds=landing_wall,
            parquet=parquet,
            extra={"landing_detail": detail,
                   "landing_steps": steps,
                   "duckdb": {"feeds": duck,
                              "total": timing_entry(Timing("total", duck_rows, duck_seconds))},
                   "landing_percent_of": {
                       "parquet": percent(landing_rate, rate(sum(t.rows for t in parquet),
                                                              sum(t.seconds for t in parquet))),
                       "duckdb": percent(landing_rate, rate(duck_rows, duck_seconds))},
                   "overhead": overhead,
                   "peak_rss_gib": rss,
                   "spark_start_seconds": round(spark_start_seconds, 2),
                   "simulate_seconds": round(simulate_seconds, 2)},
        )
    finally:
        if spark is not None:
            spark.stop()
        if keep:
            _say(f"{KEEP_ENV}=1: kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)

    json_path = out / results_filename(started)
    _write_atomically(json_path, json.dumps(results, indent=2) + "\n")
    _write_atomically(out / "latest.md", format_markdown(results))
    print(format_console(results))
    print(f"results: {json_path} and {out / 'latest.md'}")
    return results


def run_benchmark(args: argparse.Namespace) -> int:
    """``python -m bench``: :func:`run` for ``args.days``, ``args.scale`` into ``args.out``."""
    run(args.out, days=args.days, scale=args.scale)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.landing``: the landing benchmark on its own."""
    import logging

    parser = argparse.ArgumentParser(prog="python -m bench.landing",
                                     description="landing throughput vs a plain Spark Parquet write and DuckDB")
    parser.add_argument("--days", type=int, default=14, help="simulated days to land (default 14)")
    parser.add_argument("--scale", type=float, default=1.0, help="simulator scale factor (e.g. 1 or 10)")
    parser.add_argument("--out", default="bench/results", help="folder for the results files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        return run_benchmark(args)
    except ValueError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
