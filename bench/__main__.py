"""``python -m bench``: the landing benchmark (what ``make bench`` runs); ``--help`` for options."""

from __future__ import annotations

import argparse
import logging
import sys

from bench.landing import run_benchmark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench",
                                     description="landing throughput vs a plain Spark Parquet write")
    parser.add_argument("--days", type=int, default=14, help="simulated days to land (default 14)")
    parser.add_argument("--scale", type=float, default=1.0, help="simulator scale factor")
    parser.add_argument("--out", default="bench/results", help="folder for the results file")
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
