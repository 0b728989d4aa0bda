"""Human-readable summaries of what landed.

``lakehouse_summary`` reads the Delta tables with the independent ``deltalake`` (delta-rs)
reader: no JVM, so ``andon summary`` answers in a second or two.
"""

from __future__ import annotations

import logging

from andon.config import Settings, settings

log = logging.getLogger(__name__)


def _read(path: str, columns: list[str] | None = None):
    from andon.tables import read_table

    return read_table(path, columns)


def lakehouse_summary(cfg: Settings | None = None) -> str:
    """Per source and feed: days, bronze rows, silver rows, quarantine by reason, DQ KPIs; paths."""
    from andon.dictionary import load_dictionary

    cfg = cfg or settings()
    dd = load_dictionary(cfg.raw["landing"]["data_dictionary"])
    quarantine = _read(cfg.table_path("bronze", "quarantine"), ["feed", "reason"])
    dq = _read(cfg.table_path("ops", "dq_results"))
    lines = [
        f"{'source':<14}{'feed':<20}{'days':>5}{'bronze':>10}{'silver':>10}{'quarant.':>9}{'replays':>8}"
        f"{'complete':>9}{'timely':>8}{'consist':>8}  quarantined by reason / failed days",
    ]
    for feed in sorted(dd.feeds.values(), key=lambda f: (f.source, f.name)):
        bronze = _read(cfg.table_path("bronze", feed.bronze_table), ["landing_date"])
        silver = _read(cfg.table_path("silver", feed.silver_table), ["landing_date"])
        days = bronze["landing_date"].nunique() if bronze is not None else 0
        reasons = ""
        n_quarantined = 0
        if quarantine is not None:
            mine = quarantine[quarantine["feed"] == feed.name]
            n_quarantined = len(mine)
            reasons = ", ".join(f"{k}={v}" for k, v in sorted(mine["reason"].value_counts().items()))
        kpis = ("", "", "")
        replays = 0
        if dq is not None:
            mine = dq[(dq["feed"] == feed.name) & (dq["status"] != "no_data")]
            if len(mine):
                kpis = tuple(
                    f"{mine[c].mean():.3f}" if mine[c].notna().any() else "-"
                    for c in ("completeness", "timeliness", "consistency")
                )
                replays = int(mine["collapsed_replays"].sum())
                failed = mine[mine["status"] == "failed_gate"]["landing_date"].astype(str).tolist()
                if failed:
                    reasons += f"  FAILED GATE: {', '.join(failed)}"
        lines.append(
            f"{feed.source:<14}{feed.name:<20}{days:>5}{len(bronze) if bronze is not None else 0:>10}"
            f"{len(silver) if silver is not None else 0:>10}{n_quarantined:>9}{replays:>8}"
            f"{kpis[0]:>9}{kpis[1]:>8}{kpis[2]:>8}  {reasons}"
        )
    lines += [
        "",
        "Where things are:",
        f"  landing files   {cfg.landing_root}",
        f"  Delta tables    {cfg.lakehouse_root}/<bronze|silver|ops>/<table>",
        f"  metastore       {cfg.raw['metastore']['derby_home']} (databases bronze, silver, ops)",
        f"  DQ results      {cfg.table_path('ops', 'dq_results')}",
        f"  quarantine      {cfg.table_path('bronze', 'quarantine')}",
    ]
    return "\n".join(lines)
