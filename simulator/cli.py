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
from .scenario import ScenarioError, load_scenario, scenario_names

_DESCRIPTION = """\
Write what the five systems of record (MES, SPC, LIMS, field returns, supplier data)
of the simulated manufacturer drop into the landing zone, one folder per source and
business day, in each system's native format (see docs/sources.md). Injected quality
incidents and bad input are listed in <landing>/_ground_truth/.

The landing directory is emptied first. The same arguments always produce
byte-identical files.

Without --scenario the fixed legacy timetable of six incidents is used. With
--scenario NAME|FILE (a file in conf/scenarios/ or a path, see docs/scenarios.md)
incidents and benign changes (decoys, listed in _ground_truth/decoys.csv) arrive
as Poisson processes; --days/--seed/--scale/--start override the scenario's values.
"""


class _Explicit(argparse.Action):
    """Store the value and remember that the option was given (it overrides the scenario)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        given = set(getattr(namespace, "explicit", set()))
        given.add(self.dest)
        namespace.explicit = given



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
        action=_Explicit,
        default=90,
        metavar="N",
        help="business days to simulate (default 90; a 90-day run holds every incident)",
    )
    p.add_argument(
        "--seed", type=int, action=_Explicit, default=42, metavar="S", help="random seed (default 42)"
    )
    p.add_argument(
        "--scale",
        type=_positive_float,
        action=_Explicit,
        default=1.0,
        metavar="SF",
        help="volume factor: units per line per day = round(40 * SF) (default 1.0)",
    )
    p.add_argument(
        "--start",
        type=_date,
        action=_Explicit,
        default=dt.date(2026, 3, 2),
        metavar="YYYY-MM-DD",
        help="first business day (default 2026-03-02)",
    )
    p.add_argument(
        "--scenario",
        default=None,
        metavar="NAME|FILE",
        help="scenario file or name in conf/scenarios/ (shipped: "
        + ", ".join(scenario_names())
        + "); its horizon, seed, scale and start apply unless given as options",
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

    scenario = None
    kwargs = {"days": args.days, "seed": args.seed, "scale": args.scale, "start": args.start}
    if getattr(args, "scenario", None):
        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            print(f"simulate: {exc}", file=sys.stderr)
            return 2
        given = getattr(args, "explicit", set())
        kwargs = {k: v for k, v in kwargs.items() if k in given}
    summary = simulate(target, progress=progress, scenario=scenario, **kwargs)
    summary["seconds"] = round(time.monotonic() - t0, 1)
    print(json.dumps(summary, indent=2))
    return 0
