"""``spark-submit`` entry point: land sources for a window of days on any Spark master.

    spark-submit --master spark://host:7077 --packages io.delta:delta-spark_4.2_2.13:4.4.0 \\
        --py-files dist/andon_lakehouse-0.1.0-py3-none-any.whl \\
        spark_jobs/landing/main.py --source mes --start 2026-03-02 --end 2026-03-08

With ``spark.master`` left empty in the configuration (``ANDON__SPARK__MASTER=``), the master
given to spark-submit is used. ``andon land`` (the CLI) calls the same :func:`main`.
Exit status: 0 when every requested day was published, 1 when a quality gate failed a day,
2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys

from andon.dates import landing_days


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="land", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="all", help="mes, spc, lims, field_returns, supplier or all")
    parser.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", help="last day, YYYY-MM-DD (default: start)")
    parser.add_argument("--force", action="store_true", help="re-land files even if already landed")
    parser.add_argument("--run-id", default="cli", help="run id recorded in bronze and DQ results")
    return parser


def run(args: argparse.Namespace) -> int:
    """Land what ``args`` asks for; print a JSON summary line; 1 if a quality gate failed a day."""
    from andon.config import settings
    from andon.dictionary import load_dictionary
    from spark_jobs.landing.job import run_landing

    days = landing_days(args.start, args.end)
    known = load_dictionary(settings().raw["landing"]["data_dictionary"]).sources
    sources = known if args.source == "all" else [args.source]
    unknown = [s for s in sources if s not in known]
    if unknown:
        raise ValueError(f"unknown source {unknown[0]!r}; the data dictionary knows {known}")
    results = [run_landing(source, [d.isoformat() for d in days], args.run_id, force=args.force)
               for source in sources]
    failed = [f"{feed['feed']} {day['landing_date']}" for per in results for feed in per
              for day in feed["days"] if day["status"] == "failed_gate"]
    print(json.dumps({"sources": sources, "days": len(days), "failed_days": failed}))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except ValueError as exc:
        print(f"land: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
