"""``andon simulate``: command-line wiring of the source simulator.

The main ``andon`` CLI calls :func:`add_cli` to register the subcommand and then
:func:`run` with the landing directory (``$ANDON_HOME/landing`` unless ``--out`` is given).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from .generate import simulate

_DESCRIPTION = """\
Write what the five systems of record (MES, SPC, LIMS, field returns, supplier data)
of the simulated manufacturer drop into the landing zone, one folder per source and
business day, in each system's native format (see docs/sources.md). Injected quality
incidents and bad input are listed in <landing>/_ground_truth/.

The landing directory is emptied first. The same arguments always produce
byte-identical files.
"""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from exc


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def add_cli(subparsers) -> argparse.ArgumentParser:
    """Register the ``simulate`` subcommand on an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "simulate",
        help="write the five sources' native files to the landing zone",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--days",
        type=_positive_int,
        default=90,
        metavar="N",
        help="business days to simulate (default 90; a 90-day run holds every incident)",
    )
    p.add_argument("--seed", type=int, default=42, metavar="S", help="random seed (default 42)")
    p.add_argument(
        "--scale",
        type=_positive_float,
        default=1.0,
        metavar="SF",
        help="volume factor: units per line per day = round(40 * SF) (default 1.0)",
    )
    p.add_argument(
        "--start",
        type=_date,
        default=dt.date(2026, 3, 2),
        metavar="YYYY-MM-DD",
        help="first business day (default 2026-03-02)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="landing directory to (re)create (default: $ANDON_HOME/landing)",
    )
    return p


def run(args: argparse.Namespace, landing_dir: Path | None = None) -> int:
    """Run the simulator for parsed ``args``; ``--out`` wins over ``landing_dir``. Returns an exit code."""
    target = Path(args.out) if getattr(args, "out", None) else landing_dir
    if target is None:
        print("simulate: no landing directory (pass --out DIR)", file=sys.stderr)
        return 2
    t0 = time.monotonic()

    def progress(done: int, total: int, date: dt.date) -> None:
        print(
            f"simulate: {done}/{total} days (up to {date.isoformat()}), {time.monotonic() - t0:.1f} s",
            file=sys.stderr,
            flush=True,
        )

    summary = simulate(
        target, days=args.days, seed=args.seed, scale=args.scale, start=args.start, progress=progress
    )
    summary["seconds"] = round(time.monotonic() - t0, 1)
    print(json.dumps(summary, indent=2))
    return 0
