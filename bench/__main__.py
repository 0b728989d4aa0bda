"""``python -m bench`` (``make bench``): the project's performance record, every benchmark in turn.

Each benchmark runs in its own process (each starts its own Spark session in a temporary
``ANDON_HOME``) and writes JSON + Markdown to ``--out`` (default ``bench/results/``):

* ``landing-1``:  ``python -m bench.landing --days 14 --scale 1``  (landing vs Parquet and DuckDB)
* ``landing-10``: ``python -m bench.landing --days 3 --scale 10``
* ``ml``:         ``python -m bench.ml`` (52 weekly training cutoffs; scoring 1,000,000 rows)
* ``mart``:       ``python -m bench.mart`` (dbt full refresh vs incremental after one new day)

``python -m bench.daily`` (not in this list: it works on the demo's lakehouse, run it after
``make demo``) times a daily run: land one day, incremental mart, score it.

Figures are recorded, never asserted; a failing benchmark is reported and the others still run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BENCHMARKS: dict[str, list[str]] = {
    "landing-1": ["bench.landing", "--days", "14", "--scale", "1"],
    "landing-10": ["bench.landing", "--days", "3", "--scale", "10"],
    "ml": ["bench.ml"],
    "mart": ["bench.mart"],
}


def selected(only: str | None) -> list[str]:
    """The benchmark names of ``--only`` (comma separated), in the canonical order; all when empty."""
    if not only:
        return list(BENCHMARKS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    return [n for n in BENCHMARKS if n in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="every benchmark of the project in turn (landing at scale 1 and 10, ML, quality mart); "
                    "each also runs alone: python -m bench.<landing|ml|mart> --help")
    parser.add_argument("--only", help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", default="bench/results", help="folder for the results files")
    args = parser.parse_args(argv)
    try:
        names = selected(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    failed = []
    for name in names:
        cmd = [sys.executable, "-m", *BENCHMARKS[name], "--out", args.out]
        print(f"bench: {name}: {' '.join(cmd[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(cmd).returncode
        print(f"bench: {name}: exit {code} after {time.perf_counter() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
