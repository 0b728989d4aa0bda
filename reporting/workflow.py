"""Every warning gets an id, an owner and an outcome (docs/warnings.md).

**A warning** is an episode of one entity in one scope: consecutive warning days of
``gold.early_warning_scores``, where a gap of more than :data:`GAP_DAYS` days without a warning
starts a new episode. Its id is stable (scope code, first warning day and a short hash of scope,
entity and first day), so re-scoring the same days gives the same ids.

**An owner** is routed by ``warnings.routing`` (conf/base.yaml): the first rule whose scope and
entity pattern (shell-style, e.g. ``SZX-*``) match; ``warnings.default_owner`` otherwise. Where the
label-free detectors name a suspect (:func:`top_suspect`: a build lot's flagged component supplier
lot or signalling station, a line's signalling station), the warning is routed as the suspect's
own warning would be: a build lot that carries a flagged supplier lot goes to whoever owns
incoming material, not to the site that built it.

**A status** moves only along :data:`TRANSITIONS`::

    new -> acknowledged -> confirmed | false_alarm -> closed

Every transition is appended to the Delta table ``ops.warning_dispositions`` (who, when, from,
to, note); the current state of a warning is its latest row, ``new`` without one. Nothing is
updated in place and nothing is deleted: the table is the history. An invalid transition raises
:class:`TransitionError` and writes nothing. Dispositions never change scores.

**Escalation**: a warning still ``new`` ``warnings.escalate_after_days`` days after its first
warning, and still active (warned within the last :data:`GAP_DAYS` days), is escalated in the next
digest.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from andon.scopes import SCOPES

DISPOSITIONS_TABLE = "warning_dispositions"
GAP_DAYS = 7
SCOPE_CODES = {s.name: s.code for s in SCOPES.values()}
STATUSES = ("new", "acknowledged", "confirmed", "false_alarm", "closed")
TRANSITIONS = {
    "new": ("acknowledged",),
    "acknowledged": ("confirmed", "false_alarm"),
    "confirmed": ("closed",),
    "false_alarm": ("closed",),
    "closed": (),
}
#: CLI verb -> target status
VERBS = {"ack": "acknowledged", "confirm": "confirmed", "dismiss": "false_alarm", "close": "closed"}
HISTORY_COLUMNS = [
    "warning_id",
    "scope",
    "entity_id",
    "first_warning",
    "from_status",
    "to_status",
    "actor",
    "note",
    "changed_at",
]


class TransitionError(ValueError):
    """A status change the workflow does not allow (nothing was written)."""


@dataclass(frozen=True)
class WorkflowSettings:
    routing: tuple[dict[str, str], ...]
    default_owner: str
    escalate_after_days: int

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> WorkflowSettings:
        w = raw.get("warnings") or {}
        return cls(
            routing=tuple(w.get("routing") or ()),
            default_owner=str(w.get("default_owner", "quality-engineering")),
            escalate_after_days=int(w.get("escalate_after_days", 3)),
        )


def warning_id(scope: str, entity_id: str, first_warning: date) -> str:
    digest = hashlib.sha1(f"{scope}|{entity_id}|{first_warning.isoformat()}".encode()).hexdigest()[:6]
    return f"{SCOPE_CODES.get(scope, 'XX')}-{first_warning:%Y%m%d}-{digest}"


def route_owner(scope: str, entity_id: str, settings: WorkflowSettings) -> str:
    """The first routing rule matching the scope (or ``*``) and the entity pattern wins."""
    for rule in settings.routing:
        if fnmatch.fnmatchcase(scope, rule.get("scope", "*")) and fnmatch.fnmatchcase(
            entity_id, rule.get("entity", "*")
        ):
            return str(rule["owner"])
    return settings.default_owner


#: a suspect is routed as a warning of this scope on the suspect's id
SUSPECT_SCOPE = {"supplier_lot": "incoming_material", "station": "factory_output"}


def _days(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).dt.date


def top_suspect(
    scope: str, entity_id: str, since: date, until: date, gold: dict[str, pd.DataFrame | None]
) -> dict[str, Any] | None:
    """The detectors' strongest suspect for a warning of ``entity_id`` that ran ``since .. until``.

    * build lot (``field_return``): rank 1 of ``gold.fct_build_lot_suspects`` among the suspects
      flagged by ``until`` (a flagged component supplier lot or a station that signalled during
      the build);
    * line (``factory_output``): the station whose yield CUSUM signal (``gold.fct_yield_cusum``,
      true or false fails) was highest on a day of ``since .. until``;
    * supplier lot: none (the lot is the cause).

    Returns ``suspect_type`` (``supplier_lot`` | ``station``), ``suspect_id``, ``owner_hint``,
    ``evidence`` (words) and ``others`` (how many more suspects), or None."""
    if scope == "field_return":
        suspects = gold.get("fct_build_lot_suspects")
        if suspects is None or suspects.empty:
            return None
        s = suspects[suspects["build_lot_id"] == entity_id]
        if "flagged_date" in s:
            s = s[s["flagged_date"].isna() | (_days(s["flagged_date"]) <= until)]
        if s.empty:
            return None
        top = s.sort_values("suspect_rank").iloc[0]
        return {
            "suspect_type": str(top["suspect_type"]),
            "suspect_id": str(top["suspect_id"]),
            "owner_hint": str(top["owner_hint"]),
            "evidence": str(top["evidence"]),
            "others": len(s) - 1,
        }
    if scope == "factory_output":
        y = gold.get("fct_yield_cusum")
        if y is None or y.empty:
            return None
        d = _days(y["tested_date"])
        true_sig = y["is_true_fail_signal"].fillna(False).astype(bool)
        false_sig = y["is_false_fail_signal"].fillna(False).astype(bool)
        on = (y["line_id"] == entity_id) & (y["monitor_level"] == "station") & (true_sig | false_sig)
        on &= (d >= since) & (d <= until)
        w = y[on]
        if w.empty:
            return None
        strength = pd.concat(
            [w["cusum_true"].where(true_sig[on], 0.0), w["cusum_false"].where(false_sig[on], 0.0)], axis=1
        ).max(axis=1)
        top = w.loc[strength.idxmax()]
        return {
            "suspect_type": "station",
            "suspect_id": str(top["station_id"]),
            "owner_hint": str(top["station_id"]),
            "evidence": str(top["description"]),
            "others": int(w["station_id"].nunique()) - 1,
        }
    return None


def route_warning(
    scope: str, entity_id: str, since: date, until: date, gold: dict[str, pd.DataFrame | None],
    settings: WorkflowSettings,
) -> tuple[str, str]:
    """(owner, routed_by): by the warning's :func:`top_suspect` when the detectors name one (routed
    as the suspect's own warning: ``suspect <id>``), else by the warning's own scope and entity
    (``entity``)."""
    top = top_suspect(scope, entity_id, since, until, gold)
    if top is None:
        return route_owner(scope, entity_id, settings), "entity"
    owner = route_owner(SUSPECT_SCOPE[top["suspect_type"]], top["suspect_id"], settings)
    return owner, f"suspect {top['suspect_id']}"


#: gold tables (and their columns) the routing reads
SUSPECT_INPUTS = {
    "fct_build_lot_suspects": ["build_lot_id", "suspect_rank", "suspect_type", "suspect_id", "owner_hint",
                               "evidence", "flagged_date"],
    "fct_yield_cusum": ["line_id", "monitor_level", "station_id", "tested_date", "is_true_fail_signal",
                        "is_false_fail_signal", "cusum_true", "cusum_false", "description"],
}


def episodes(scores: pd.DataFrame, gap_days: int = GAP_DAYS) -> pd.DataFrame:
    """One row per warning episode: scope, entity_id, first_warning, last_warning, days_warned,
    max_score, model (``model_name vversion`` of the highest-scoring day), warning_id."""
    cols = ["warning_id", "scope", "entity_id", "first_warning", "last_warning", "days_warned", "max_score", "model"]
    if scores is None or scores.empty:
        return pd.DataFrame(columns=cols)
    w = scores[scores["is_warning"].astype(bool)].copy()
    if w.empty:
        return pd.DataFrame(columns=cols)
    w["score_date"] = pd.to_datetime(w["score_date"]).dt.date
    w = w.sort_values(["scope", "entity_id", "score_date"])
    prev = w.groupby(["scope", "entity_id"])["score_date"].shift()
    gap = pd.Series(
        [(d - p).days if isinstance(p, date) else None for d, p in zip(w["score_date"], prev, strict=True)],
        index=w.index,
    )
    w["episode"] = (gap.isna() | (gap > gap_days)).cumsum()
    w["model"] = w["model_name"].astype(str) + " v" + w["model_version"].astype(str)
    top = w.sort_values("score", ascending=False).drop_duplicates("episode").set_index("episode")
    agg = w.groupby("episode").agg(
        scope=("scope", "first"),
        entity_id=("entity_id", "first"),
        first_warning=("score_date", "min"),
        last_warning=("score_date", "max"),
        days_warned=("score_date", "nunique"),
        max_score=("score", "max"),
    )
    agg["model"] = top["model"]
    agg["warning_id"] = [
        warning_id(s, e, f) for s, e, f in zip(agg["scope"], agg["entity_id"], agg["first_warning"], strict=True)
    ]
    return agg.reset_index(drop=True)[cols].sort_values(["first_warning", "warning_id"]).reset_index(drop=True)


# --------------------------------------------------------------------------- storage


def _path(cfg) -> str:
    return cfg.table_path("ops", DISPOSITIONS_TABLE)


def history(cfg) -> pd.DataFrame:
    from andon.tables import read_table

    df = read_table(_path(cfg))
    return pd.DataFrame(columns=HISTORY_COLUMNS) if df is None else df


def current_status(hist: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """warning_id -> its latest history row (as a dict)."""
    if hist.empty:
        return {}
    latest = hist.sort_values("changed_at").drop_duplicates("warning_id", keep="last")
    return {r["warning_id"]: r for r in latest.to_dict("records")}


def warnings_table(cfg, as_of: date | None = None) -> pd.DataFrame:
    """Every warning episode with its owner (and ``routed_by``: its suspect or its entity), status,
    last change and whether it is escalated (``new``, first warned at least
    ``escalate_after_days`` before ``as_of`` and still active)."""
    from andon.tables import read_table

    settings = WorkflowSettings.from_config(cfg.raw)
    ep = episodes(read_table(cfg.table_path("gold", "early_warning_scores")))
    state = current_status(history(cfg))
    as_of = as_of or (max(ep["last_warning"]) if len(ep) else date.today())
    gold = {t: read_table(cfg.table_path("gold", t), columns=c) for t, c in SUSPECT_INPUTS.items()} if len(ep) else {}
    routed = [
        route_warning(s, e, f, la, gold, settings)
        for s, e, f, la in zip(ep["scope"], ep["entity_id"], ep["first_warning"], ep["last_warning"], strict=True)
    ]
    ep["owner"] = [o for o, _ in routed]
    ep["routed_by"] = [r for _, r in routed]
    ep["status"] = [state.get(i, {}).get("to_status", "new") for i in ep["warning_id"]]
    ep["changed_by"] = [state.get(i, {}).get("actor") for i in ep["warning_id"]]
    ep["note"] = [state.get(i, {}).get("note") for i in ep["warning_id"]]
    limit = as_of - timedelta(days=settings.escalate_after_days)
    active = ep["last_warning"] > as_of - timedelta(days=GAP_DAYS)
    ep["escalated"] = (ep["status"] == "new") & (ep["first_warning"] <= limit) & active
    return ep


def transition(cfg, warning: str, verb: str, actor: str, note: str | None = None) -> dict[str, Any]:
    """Move ``warning`` to the status of ``verb`` (:data:`VERBS`); appends one history row."""
    from deltalake import write_deltalake

    if verb not in VERBS:
        raise TransitionError(f"unknown action {verb!r}; use one of {', '.join(VERBS)}")
    if not actor or not actor.strip():
        raise TransitionError("say who you are (--by NAME): every status change records its author")
    table = warnings_table(cfg)
    match = table[table["warning_id"] == warning]
    if match.empty:
        raise TransitionError(f"no warning {warning!r} (andon warnings list shows the ids)")
    row = match.iloc[0]
    target = VERBS[verb]
    if target not in TRANSITIONS[row["status"]]:
        allowed = ", ".join(k for k, v in VERBS.items() if v in TRANSITIONS[row["status"]]) or "none (closed)"
        raise TransitionError(
            f"{warning} is {row['status']}: cannot {verb} it (allowed: {allowed}); the workflow is "
            f"new -> acknowledged -> confirmed | false_alarm -> closed"
        )
    record = pd.DataFrame(
        [
            {
                "warning_id": warning,
                "scope": row["scope"],
                "entity_id": row["entity_id"],
                "first_warning": row["first_warning"],
                "from_status": row["status"],
                "to_status": target,
                "actor": actor.strip(),
                "note": note,
                "changed_at": datetime.now(UTC).replace(tzinfo=None),
            }
        ]
    ).astype({"note": "string", "first_warning": "datetime64[ms]"})
    Path(_path(cfg)).parent.mkdir(parents=True, exist_ok=True)
    write_deltalake(_path(cfg), record, mode="append")
    return {"warning_id": warning, "from": row["status"], "to": target, "by": actor.strip()}
