"""The SQL data source of the analysts' Superset: a DuckDB catalog of views over the gold tables.

One view per gold Delta table that exists (``select * from delta_scan('<path>')``), plus a few
reading views that Superset cannot derive itself:

- ``early_warning_scores``: the scores with the top factors as one line of plain words (business
  names from the data dictionary), the site and, for supplier lots, the supplier;
- ``early_warnings_latest``: each scope's warnings on its latest score day;
- ``warning_episodes`` and ``open_warnings``: the warning workflow's episodes (docs/warnings.md)
  with owner, status (``ops.warning_dispositions``) and escalation, as ``andon warnings list``
  shows them; open = not closed;
- ``dq_results`` and ``dq_quarantine_by_reason`` from ``ops.dq_results`` (scalar columns; the
  quarantine map unnested per reason).

Silver, bronze and the rest of ops are not exposed: the only customer data of the lakehouse
(``silver.field_returns``' pseudonym and region) never reaches Superset.

The spec is built here, in the project's venv; the catalog file is written by
``bi/duckdb_catalog.py`` in Superset's venv (duckdb 1.5.5 + the Delta extension).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from andon.config import Settings

#: the reading names of the three scopes (as in the digest)
SCOPE_NAMES = {
    "incoming_material": "Incoming material (supplier lots)",
    "factory_output": "Factory output (lines)",
    "field_return": "Field returns (build lots)",
}
#: gold tables that get a reading view instead of the plain one
RESHAPED = {"early_warning_scores"}
#: views that must exist for the catalog to be usable by the bundle even before the ML chain ran
SCORES_COLUMNS = {
    "scope": "varchar", "scope_name": "varchar", "entity_type": "varchar", "entity_id": "varchar",
    "site_id": "varchar", "supplier_id": "varchar", "score_date": "date", "score": "double",
    "is_warning": "boolean", "threshold": "double", "top_factors": "varchar", "model_name": "varchar",
    "model_version": "varchar", "scored_at": "timestamptz",
}


def is_delta_table(path: str | Path) -> bool:
    return (Path(path) / "_delta_log").is_dir()


def gold_tables(cfg: Settings) -> dict[str, str]:
    """Every gold Delta table that exists: name -> absolute path."""
    root = Path(cfg.table_path("gold", "x")).parent
    if not root.is_dir():
        return {}
    return {p.name: str(p.resolve()) for p in sorted(root.iterdir()) if is_delta_table(p)}


def _quote(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def _scope_case(column: str) -> str:
    whens = " ".join(f"when '{k}' then '{v}'" for k, v in SCOPE_NAMES.items())
    return f"case {column} {whens} else {column} end"


def scores_view(scores: str, lot_quality: str | None) -> str:
    """Scores with named factors; ``supplier_id`` through the lot table when it exists."""
    supplier = (
        f"(select max(q.supplier_id) from delta_scan({_quote(lot_quality)}) q where q.supplier_lot_id = s.entity_id)"
        if lot_quality else "null"
    )
    return f"""
select s.scope, {_scope_case('s.scope')} as scope_name, s.entity_type, s.entity_id,
       case when s.entity_type in ('line', 'build_lot') then split_part(s.entity_id, '-', 1) end as site_id,
       case when s.entity_type = 'supplier_lot' then {supplier} end as supplier_id,
       s.score_date, s.score, s.is_warning, s.threshold,
       (select string_agg(coalesce(n.business_name, replace(u.f.feature, '_', ' ')), '; ' order by u.i)
          from (select unnest(s.top_factors) as f, generate_subscripts(s.top_factors, 1) as i) u
          left join feature_names n on n.feature = u.f.feature) as top_factors,
       s.model_name, s.model_version, s.scored_at
from delta_scan({_quote(scores)}) s"""


def empty_scores_view() -> str:
    """The same columns and no rows: dashboards import and open before the first scoring run."""
    return "select " + ", ".join(f"cast(null as {t}) as {c}" for c, t in SCORES_COLUMNS.items()) + " where false"


LATEST_WARNINGS = """
select w.* from early_warning_scores w
join (select scope, max(score_date) as score_date from early_warning_scores group by scope) l
  on l.scope = w.scope and l.score_date = w.score_date
where w.is_warning"""


#: the warning workflow's rules (reporting/workflow.py, which bi may not import: same layer);
#: tests/integration/test_bi.py checks the views against reporting.workflow.warnings_table
EPISODE_GAP_DAYS = 7
DISPOSITION_COLUMNS = {
    "warning_id": "varchar", "scope": "varchar", "entity_id": "varchar", "first_warning": "timestamp",
    "from_status": "varchar", "to_status": "varchar", "actor": "varchar", "note": "varchar",
    "changed_at": "timestamp",
}


def _glob(pattern: str) -> str:
    return "'" + str(pattern).replace("'", "''") + "'"


def owner_case(warnings: dict[str, Any], scope: str = "e.scope", entity: str = "e.entity_id") -> str:
    """``warnings.routing`` as SQL: the first rule whose scope and entity patterns match (shell
    patterns, as fnmatch; DuckDB's GLOB), ``warnings.default_owner`` otherwise."""
    default = _glob(warnings.get("default_owner", "quality-engineering"))
    whens = " ".join(
        f"when {scope} glob {_glob(r.get('scope', '*'))} and {entity} glob {_glob(r.get('entity', '*'))} "
        f"then {_glob(r['owner'])}"
        for r in warnings.get("routing") or ()
    )
    return f"case {whens} else {default} end" if whens else default


#: the detector tables the suspect routing reads (reporting.workflow.top_suspect, SUSPECT_INPUTS)
SUSPECT_COLUMNS = {
    "fct_build_lot_suspects": {"build_lot_id": "varchar", "suspect_rank": "integer", "suspect_type": "varchar",
                               "suspect_id": "varchar", "flagged_date": "date"},
    "fct_yield_cusum": {"line_id": "varchar", "monitor_level": "varchar", "station_id": "varchar",
                        "tested_date": "date", "is_true_fail_signal": "boolean", "is_false_fail_signal": "boolean",
                        "cusum_true": "double", "cusum_false": "double"},
}
#: a suspect is routed as a warning of this scope on its id (reporting.workflow.SUSPECT_SCOPE)
SUSPECT_SCOPE = {"supplier_lot": "incoming_material", "station": "factory_output"}


def table_relation(path: str | None, columns: dict[str, str]) -> str:
    """A Delta table, or no rows with its columns when it does not exist (yet)."""
    if path:
        return f"delta_scan({_quote(path)})"
    return "(select " + ", ".join(f"cast(null as {t}) as {c}" for c, t in columns.items()) + " where false)"


def dispositions_relation(path: str | None) -> str:
    """``ops.warning_dispositions`` (the workflow's history), or no rows with its columns before
    the first status change creates it (the next catalog build picks the table up)."""
    return table_relation(path, DISPOSITION_COLUMNS)


def episode_views(cfg: Settings, history: str, suspects: str | None = None, cusum: str | None = None) -> dict[str, str]:
    """The warning workflow's episodes over the scores view: consecutive warning days of an
    entity (a gap of more than 7 days starts a new one), id ``<scope code>-<first day>-<sha1>``,
    owner by routing (as the suspect's own warning where the detectors name one: a build lot's
    rank-1 suspect flagged by its last warning day, a line's station with the highest signalling
    CUSUM while it warned; ``routed_by``), status = the latest disposition (``new`` without one), escalated = still
    ``new`` ``escalate_after_days`` after its first warning and warned within the last 7 days of
    the newest warning day; with the episode's latest warning day (score, threshold, factors,
    model) for the dashboard."""
    from andon.scopes import SCOPES

    warnings = cfg.raw.get("warnings") or {}
    escalate = int(warnings.get("escalate_after_days", 3))
    codes = " ".join(f"when '{s.name}' then '{s.code}'" for s in SCOPES.values())
    suspects = suspects or table_relation(None, SUSPECT_COLUMNS["fct_build_lot_suspects"])
    cusum = cusum or table_relation(None, SUSPECT_COLUMNS["fct_yield_cusum"])
    suspect_scope = "case sx.suspect_type " + " ".join(
        f"when '{t}' then '{sc}'" for t, sc in SUSPECT_SCOPE.items()) + " end"
    owner = (f"case when sx.suspect_id is not null then {owner_case(warnings, suspect_scope, 'sx.suspect_id')} "
             f"else {owner_case(warnings)} end")
    episodes = f"""
with warned as (
  select *, score_date - lag(score_date) over (partition by scope, entity_id order by score_date) as gap
  from early_warning_scores where is_warning
), numbered as (
  select *, sum(case when gap is null or gap > {EPISODE_GAP_DAYS} then 1 else 0 end)
              over (partition by scope, entity_id order by score_date rows unbounded preceding) as episode
  from warned
), grouped as (
  select scope, entity_id, episode, min(score_date) as first_warning, max(score_date) as last_warning,
         count(distinct score_date) as days_warned, max(score) as max_score,
         arg_max(model_name || ' v' || model_version, score) as model,
         arg_max(struct_pack(score, threshold, top_factors, model_name, model_version, scope_name, entity_type,
                             site_id, supplier_id), score_date) as latest
  from numbered group by scope, entity_id, episode
), e as (
  select *, (case scope {codes} else 'XX' end) || '-' || strftime(first_warning, '%Y%m%d') || '-'
            || left(sha1(scope || '|' || entity_id || '|' || strftime(first_warning, '%Y-%m-%d')), 6) as warning_id
  from grouped
), state as (
  select warning_id, arg_max(to_status, changed_at) as status, arg_max(actor, changed_at) as changed_by,
         arg_max(note, changed_at) as note, max(changed_at) as changed_at
  from {history} group by warning_id
), lot_suspect as (
  select e.warning_id, arg_min(s.suspect_type, s.suspect_rank) as suspect_type,
         arg_min(s.suspect_id, s.suspect_rank) as suspect_id
  from e join {suspects} s on e.scope = 'field_return' and s.build_lot_id = e.entity_id
   and (s.flagged_date is null or cast(s.flagged_date as date) <= cast(e.last_warning as date))
  group by e.warning_id
), station_suspect as (
  select e.warning_id, 'station' as suspect_type,
         arg_max(y.station_id, greatest(case when y.is_true_fail_signal then y.cusum_true else 0 end,
                                        case when y.is_false_fail_signal then y.cusum_false else 0 end)) as suspect_id
  from e join {cusum} y on e.scope = 'factory_output' and y.line_id = e.entity_id and y.monitor_level = 'station'
   and (coalesce(y.is_true_fail_signal, false) or coalesce(y.is_false_fail_signal, false))
   and cast(y.tested_date as date) between cast(e.first_warning as date) and cast(e.last_warning as date)
  group by e.warning_id
), sx as (select * from lot_suspect union all select * from station_suspect
), as_of as (select max(last_warning) as as_of from e)
select e.warning_id, e.scope, e.latest.scope_name as scope_name, e.latest.entity_type as entity_type, e.entity_id,
       e.latest.site_id as site_id, e.latest.supplier_id as supplier_id,
       {owner} as owner,
       case when sx.suspect_id is not null then 'suspect ' || sx.suspect_id else 'entity' end as routed_by,
       coalesce(state.status, 'new') as status,
       coalesce(state.status, 'new') <> 'closed' as is_open,
       coalesce(state.status, 'new') = 'new' and e.first_warning <= as_of.as_of - {escalate}
         and e.last_warning > as_of.as_of - {EPISODE_GAP_DAYS} as is_escalated,
       e.first_warning, e.last_warning, e.days_warned, e.max_score, e.model,
       e.latest.score as latest_score, e.latest.threshold as threshold, e.latest.top_factors as top_factors,
       e.latest.model_name as model_name, e.latest.model_version as model_version,
       state.changed_by, state.note, state.changed_at
from e cross join as_of left join state on state.warning_id = e.warning_id
left join sx on sx.warning_id = e.warning_id"""
    return {"warning_episodes": episodes, "open_warnings": "select * from warning_episodes where is_open"}


def dq_views(dq_path: str) -> dict[str, str]:
    src = f"delta_scan({_quote(dq_path)})"
    return {
        "dq_results": f"""
select source, feed, landing_date, files_received, records_received, bronze_rows, silver_rows,
       quarantined_rows, collapsed_replays, completeness, timeliness, consistency, gx_evaluated,
       gx_success_percent, len(gx_critical_failures) as gx_critical_failures, status, evaluated_at
from {src}""",
        "dq_quarantine_by_reason": f"""
select source, feed, landing_date, reason, quarantined_rows from (
  select source, feed, landing_date, unnest(map_keys(quarantined_by_reason)) as reason,
         unnest(map_values(quarantined_by_reason)) as quarantined_rows
  from {src})""",
    }


def feature_names(cfg: Settings) -> dict[str, Any]:
    from andon.dictionary import load_dictionary

    dictionary = load_dictionary(cfg.raw["landing"]["data_dictionary"])
    names = sorted({*dictionary.derived, *dictionary.elements})
    return {
        "columns": {"feature": "varchar", "business_name": "varchar"},
        "rows": [[n, dictionary.business_name(n)] for n in names],
    }


def catalog_views(cfg: Settings) -> dict[str, str]:
    """Every view of the catalog: name -> select."""
    gold = gold_tables(cfg)
    views = {name: f"select * from delta_scan({_quote(path)})" for name, path in gold.items() if name not in RESHAPED}
    if "early_warning_scores" in gold:
        views["early_warning_scores"] = scores_view(gold["early_warning_scores"], gold.get("fct_supplier_lot_quality"))
    else:
        views["early_warning_scores"] = empty_scores_view()
    views["early_warnings_latest"] = LATEST_WARNINGS
    dispositions = cfg.table_path("ops", "warning_dispositions")
    detector = {name: table_relation(str(Path(gold[name]).resolve()) if name in gold else None, cols)
                for name, cols in SUSPECT_COLUMNS.items()}
    views.update(episode_views(cfg, dispositions_relation(
        str(Path(dispositions).resolve()) if is_delta_table(dispositions) else None),
        detector["fct_build_lot_suspects"], detector["fct_yield_cusum"]))
    dq = cfg.table_path("ops", "dq_results")
    if is_delta_table(dq):
        views.update(dq_views(str(Path(dq).resolve())))
    return views


def catalog_spec(cfg: Settings, catalog: Path, extension_dir: Path) -> dict[str, Any]:
    return {
        "catalog": str(catalog),
        "extension_dir": str(extension_dir),
        "tables": {"feature_names": feature_names(cfg)},
        "views": catalog_views(cfg),
    }


def write_catalog(cfg: Settings, python: Path, catalog: Path, extension_dir: Path) -> dict[str, int]:
    """Build the catalog with Superset's python (``bi/duckdb_catalog.py``); rows per view."""
    spec = catalog_spec(cfg, catalog, extension_dir)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        done = subprocess.run([str(python), str(Path(__file__).with_name("duckdb_catalog.py")), handle.name],
                              capture_output=True, text=True, timeout=600)
    finally:
        Path(handle.name).unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the DuckDB catalog failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def catalog_uri(catalog: Path, extension_dir: Path) -> str:
    """The read-only duckdb-engine URI Superset uses (the extension directory: no downloads)."""
    return (f"duckdb:///{catalog}?access_mode=read_only&extension_directory={extension_dir}"
            "&autoinstall_known_extensions=false")
