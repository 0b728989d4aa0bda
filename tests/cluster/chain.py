"""One tiny world through landing and the quality mart, in whatever profile the environment selects.

``python -m tests.cluster.chain --days 14`` (run by tests/cluster/test_equivalence.py, once with the
embedded default and once with ``ANDON_PROFILE=cluster``): simulate the world into a local folder,
put it where the profile's landing zone is (the folder itself, or an upload to the S3 bucket: what a
source system's drop does), land every source for every day and build the mart. The same functions
the Airflow tasks call; prints one JSON line of timings.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

LAYER_DATABASES = ["bronze", "silver", "gold", "ops", "staging"]


def upload(local: Path, target: str) -> int:
    """Copy a local landing folder to ``s3a://bucket/prefix`` (boto3, AWS_* from the environment)."""
    import boto3

    url = urlparse(target)
    prefix = url.path.strip("/")
    s3 = boto3.client("s3")
    count = 0
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = "/".join(filter(None, [prefix, path.relative_to(local).as_posix()]))
        s3.upload_file(str(path), url.netloc, key)
        count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 6, 2))
    parser.add_argument("--simulate-to", type=Path, required=True, help="local folder for the simulated files")
    parser.add_argument("--reset-metastore", action="store_true",
                        help="drop the layer databases first (a shared metastore may point at an older run)")
    args = parser.parse_args(argv)

    from andon.config import settings
    from andon.spark import get_spark
    from simulator import simulate

    cfg = settings()
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    simulate(args.simulate_to, days=args.days, seed=args.seed, scale=args.scale, start=args.start)
    timings["simulate"] = time.monotonic() - t0
    if "://" in cfg.landing_root and not cfg.landing_root.startswith("file:"):
        t = time.monotonic()
        timings["files_uploaded"] = upload(args.simulate_to, cfg.landing_root)
        timings["upload"] = time.monotonic() - t
    elif Path(cfg.landing_root).resolve() != args.simulate_to.resolve():
        raise SystemExit("--simulate-to must be the landing folder of a local profile")

    t = time.monotonic()
    spark = get_spark(cfg)
    timings["spark_session"] = time.monotonic() - t
    if args.reset_metastore:
        for db in LAYER_DATABASES:
            spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")

    from spark_jobs.landing.job import land_source
    from spark_jobs.mart.runner import build_mart

    sources = ["mes", "spc", "lims", "field_returns", "supplier"]
    days = [args.start + timedelta(days=i) for i in range(args.days)]
    t = time.monotonic()
    for source in sources:
        land_source(source, days, "equivalence", cfg=cfg, spark=spark)
    timings["landing"] = time.monotonic() - t
    t = time.monotonic()
    summary = build_mart(cfg=cfg, full=False)
    timings["mart"] = time.monotonic() - t
    timings["total"] = time.monotonic() - t0
    print(json.dumps({"profile": cfg.profile, "master": spark.sparkContext.master,
                      "lakehouse": cfg.lakehouse_root, "mart_mode": summary.get("mode"),
                      "seconds": {k: round(v, 1) for k, v in timings.items()}}))
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
