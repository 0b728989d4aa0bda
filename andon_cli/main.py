"""``andon``: the one command line of Andon Lakehouse; each command dispatches to its stage.

    andon simulate --days 90 --seed 42 --scale 1.0   write five sources' native files to the landing zone
    andon land --source mes --start D [--end D]        land one source in-process (what one Airflow task
                                                       runs; spark_jobs/landing/main.py for spark-submit)
    andon summary                                      what landed: rows, quarantine, DQ KPIs, paths
    andon paths                                        where the state lives
    andon train [--cutoff D] [--replay-from D]         train and register the early-warning models
    andon score --start D [--end D] [--models replay]  score into gold.early_warning_scores
    andon evaluate                                     scores vs the ground-truth ledger, model vs baseline
    andon digest [--day D]                             write the weekly HTML digest of D's ISO week

Airflow runs the same functions: ``make land DATE=...`` and ``make demo`` go through the DAGs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from andon.config import andon_home, settings
from andon.scopes import SCOPE_NAMES


def _simulate(args: argparse.Namespace) -> int:
    from simulator.cli import run

    return run(args, Path(args.out) if args.out else Path(settings().landing_root))


def _land(args: argparse.Namespace) -> int:
    from spark_jobs.landing.main import run

    return run(args)


def _summary(args: argparse.Namespace) -> int:
    from reporting.summary import lakehouse_summary

    print(lakehouse_summary())
    return 0


def _paths(args: argparse.Namespace) -> int:
    cfg = settings()
    print(f"ANDON_HOME      {andon_home()}")
    print(f"profile         {cfg.profile}")
    print(f"landing         {cfg.landing_root}")
    print(f"lakehouse       {cfg.lakehouse_root}")
    hive = cfg.raw["metastore"].get("hive_conf") or {}
    print(f"metastore       {hive.get('javax.jdo.option.ConnectionURL') or cfg.raw['metastore']['derby_home']}")
    print(f"mlflow          {cfg.raw['mlflow']['tracking_uri']}")
    print(f"airflow home    {cfg.raw['airflow']['home']}")
    print(f"spark master    {cfg.raw['spark']['master']}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from ml.jobs import SCOPES, train_models

    results = train_models(args.cutoff, scopes=args.scope or SCOPES, replay_from=args.replay_from)
    for r in results:
        print(json.dumps(r, default=str))
    return 0


def _score(args: argparse.Namespace) -> int:
    from ml.jobs import SCOPES, score_window

    for r in score_window(args.start, args.end, models=args.models, scopes=args.scope or SCOPES):
        print(json.dumps(r, default=str))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from ml.evaluate import evaluate_lakehouse, report_kind_table, report_table

    report = evaluate_lakehouse(out_dir=args.out, log_to_mlflow=not args.no_mlflow)
    print(report_table(report))
    print("")
    print(report_kind_table(report))
    print(f"\nmodel beats baseline on {report['scopes_model_beats_baseline']} of {len(report['scopes'])} scopes")
    print(f"report: {report['paths']['markdown']}")
    return 0


def _digest(args: argparse.Namespace) -> int:
    from reporting.digest import write_digest

    path = write_digest(args.day)
    print(path)
    if args.mail:
        from reporting.mail import MailError, describe, send_digest

        try:
            print(describe(send_digest(path, force=args.force)))
        except MailError as exc:
            print(f"andon: error: {exc}", file=sys.stderr)
            return 1
    return 0


def _warnings(args: argparse.Namespace) -> int:
    import pandas as pd

    from andon.config import settings
    from reporting import workflow

    cfg = settings()
    if args.action == "list":
        table = workflow.warnings_table(cfg)
        for column in ("scope", "status", "owner"):
            value = getattr(args, column)
            if value:
                table = table[table[column] == value]
        if args.open:
            table = table[table["status"] != "closed"]
        cols = ["warning_id", "scope", "entity_id", "first_warning", "last_warning", "days_warned", "max_score",
                "status", "owner", "routed_by", "escalated", "model"]
        with pd.option_context("display.max_rows", args.limit, "display.width", 200):
            print(table[cols].tail(args.limit).to_string(index=False) if len(table) else "no warnings")
        return 0
    if not args.warning_id:
        raise ValueError(f"andon warnings {args.action} needs a warning id (andon warnings list shows them)")
    if args.action == "show":
        table = workflow.warnings_table(cfg)
        row = table[table["warning_id"] == args.warning_id]
        if row.empty:
            raise ValueError(f"no warning {args.warning_id!r}")
        print(row.iloc[0].to_string())
        hist = workflow.history(cfg)
        hist = hist[hist["warning_id"] == args.warning_id].sort_values("changed_at")
        print("\nhistory:" if len(hist) else "\nhistory: none (new)")
        for r in hist.itertuples():
            note = f": {r.note}" if isinstance(r.note, str) and r.note else ""
            print(f"  {r.changed_at}  {r.from_status} -> {r.to_status}  by {r.actor}{note}")
        return 0
    result = workflow.transition(cfg, args.warning_id, args.action, args.by or "", args.note)
    print(f"{result['warning_id']}: {result['from']} -> {result['to']} (by {result['by']})")
    return 0


def _mail_sink(args: argparse.Namespace) -> int:
    from andon.config import settings
    from reporting import smtp_sink

    action = {"start": smtp_sink.start_background, "stop": smtp_sink.stop_background, "status": smtp_sink.status}
    print(action[args.action](settings()))
    return 0


def _mail_preview(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reporting.mail import preview_html, screenshot

    eml = Path(args.eml)
    out = Path(args.html) if args.html else eml.with_suffix(".html")
    out.write_text(preview_html(eml.read_bytes()), encoding="utf-8")
    print(f"HTML part with its inline images: {out}")
    if args.png:
        print(f"rendered by headless Chromium: {screenshot(out, args.png, height=args.height)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="andon", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    from simulator.cli import add_cli

    add_cli(sub)
    sub.choices["simulate"].set_defaults(func=_simulate)

    from spark_jobs.landing.main import build_parser as land_parser

    land = land_parser(sub.add_parser("land", help="land one source (or all) for a window of days, in-process"))
    land.set_defaults(func=_land)

    sub.add_parser("summary", help="rows per layer, quarantine by reason, DQ KPIs, paths").set_defaults(
        func=_summary)
    sub.add_parser("paths", help="where the local state lives").set_defaults(func=_paths)

    scopes = list(SCOPE_NAMES)
    train = sub.add_parser("train", help="train and register the early-warning models (what andon_training runs)")
    train.add_argument("--cutoff", help="last day of training data (default: the last day in silver)")
    train.add_argument("--replay-from", help="train one version per week from this day up to the cutoff")
    train.add_argument("--scope", action="append", choices=scopes, help="only this scope (repeatable)")
    train.set_defaults(func=_train)

    score = sub.add_parser("score", help="score a window into gold.early_warning_scores (what andon_scoring runs)")
    score.add_argument("--start", required=True, help="first score date, YYYY-MM-DD")
    score.add_argument("--end", help="last score date (default: start)")
    score.add_argument("--models", choices=["champion", "replay"], default="champion",
                       help="champion: the current champion scores every date; replay: each date by the "
                            "latest version trained before it")
    score.add_argument("--scope", action="append", choices=scopes, help="only this scope (repeatable)")
    score.set_defaults(func=_score)

    ev = sub.add_parser("evaluate", help="evaluate the scores against the ground-truth ledger, model vs baseline")
    ev.add_argument("--out", help="report folder (default: paths.reports, i.e. .andon/reports)")
    ev.add_argument("--no-mlflow", action="store_true", help="do not log the report to MLflow")
    ev.set_defaults(func=_evaluate)

    dg = sub.add_parser("digest", help="write the weekly HTML early-warning digest (--mail: and mail it)")
    dg.add_argument("--day", help="a day of the week to cover (default: the last scored day)")
    dg.add_argument("--mail", action="store_true", help="also mail it (mail settings; once per week)")
    dg.add_argument("--force", action="store_true", help="with --mail: send even if the week was mailed")
    dg.set_defaults(func=_digest)

    wn = sub.add_parser("warnings", help="the warning workflow: list, show, ack, confirm, dismiss, close")
    wn.add_argument("action", choices=["list", "show", "ack", "confirm", "dismiss", "close"])
    wn.add_argument("warning_id", nargs="?", help="the warning's id (from `andon warnings list`)")
    wn.add_argument("--by", help="who changes the status (required for ack/confirm/dismiss/close)")
    wn.add_argument("--note", help="why (kept in the history)")
    wn.add_argument("--scope", help="list: only this scope")
    wn.add_argument("--status", choices=["new", "acknowledged", "confirmed", "false_alarm", "closed"],
                    help="list: only this status")
    wn.add_argument("--owner", help="list: only this owner")
    wn.add_argument("--open", action="store_true", help="list: hide closed warnings")
    wn.add_argument("--limit", type=int, default=50, help="list: at most this many (newest)")
    wn.set_defaults(func=_warnings)

    sink = sub.add_parser("mail-sink", help="the local SMTP sink of the embedded default (.eml files in the outbox)")
    sink.add_argument("action", choices=["start", "stop", "status"])
    sink.set_defaults(func=_mail_sink)

    pv = sub.add_parser("mail-preview", help="a received digest (.eml) as HTML with its inline charts; --png: a "
                                             "screenshot by headless Chromium")
    pv.add_argument("eml", help="a message from the outbox, e.g. .andon/outbox/<timestamp>-<subject>.eml")
    pv.add_argument("--html", help="where to write the HTML (default: beside the .eml)")
    pv.add_argument("--png", help="also render it to this PNG (needs the Debian package chromium)")
    pv.add_argument("--height", type=int, default=2600, help="--png: page height in pixels")
    pv.set_defaults(func=_mail_preview)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # py4j logs at INFO while the interpreter shuts down, after stderr is closed.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"andon: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
