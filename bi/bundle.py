"""Dashboards as code: the YAML export bundle in ``infra/superset/bundle/``, zipped at import time.

The tree is what ``GET /api/v1/dashboard/export/`` gives (``metadata.yaml``, ``databases/``,
``datasets/<database>/``, ``charts/``, ``dashboards/``), kept unzipped for readable diffs. Nothing
machine-specific is committed: a value ``${NAME}`` in a file is replaced at zip time from
``params`` (the DuckDB catalog's URI is ``${ANDON_BI_CATALOG_URI}``), and a ``${...}`` left
unreplaced is an error.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import yaml

from andon.config import REPO_ROOT

BUNDLE_DIR = REPO_ROOT / "infra" / "superset" / "bundle"
ROOT_IN_ZIP = "andon_bundle"
_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def render(text: str, params: dict[str, str], where: str = "") -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in params:
            raise KeyError(f"{where}: no value for ${{{m.group(1)}}}")
        return params[m.group(1)]

    return _PLACEHOLDER.sub(sub, text)


def bundle_files(bundle_dir: Path = BUNDLE_DIR) -> list[Path]:
    return sorted(p for p in bundle_dir.rglob("*.yaml") if p.is_file())


#: Superset's importers, in import order: what each one overwrites, its metadata type and the
#: folders its zip needs. A dashboard import overwrites only the dashboards (charts, datasets
#: and the database are created when missing, never updated), so every level is imported
#: with overwrite=true in turn.
LEVELS = (
    ("database", "Database", ("databases",)),
    ("dataset", "SqlaTable", ("databases", "datasets")),
    ("chart", "Slice", ("databases", "datasets", "charts")),
    ("dashboard", "Dashboard", ("databases", "datasets", "charts", "dashboards")),
)


def zip_bundle(params: dict[str, str], bundle_dir: Path = BUNDLE_DIR, level: str = "dashboard",
               dataset_ids: dict[str, int] | None = None) -> bytes:
    """The import zip of one level (see :data:`LEVELS`): its folders' YAML under ``andon_bundle/``,
    ``metadata.yaml`` with the level's type, placeholders filled in. With ``dataset_ids``
    (table name -> id in the target Superset), every chart gets its query context for that
    Superset (:func:`with_query_context`)."""
    if not (bundle_dir / "metadata.yaml").exists():
        raise FileNotFoundError(f"{bundle_dir}/metadata.yaml is missing")
    kind, folders = next((t, f) for name, t, f in LEVELS if name == level)
    files = [p for p in bundle_files(bundle_dir) if p.relative_to(bundle_dir).parts[0] in folders]
    meta = yaml.safe_load((bundle_dir / "metadata.yaml").read_text(encoding="utf-8"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{ROOT_IN_ZIP}/metadata.yaml", yaml.safe_dump({**meta, "type": kind}, sort_keys=False))
        for path in files:
            rel = path.relative_to(bundle_dir).as_posix()
            text = render(path.read_text(encoding="utf-8"), params, rel)
            obj = yaml.safe_load(text)  # a broken file fails here, with its name, not inside Superset
            if dataset_ids is not None and rel.startswith("charts/"):
                obj = with_query_context(obj, dataset_ids)
                text = yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, width=120)
            zf.writestr(f"{ROOT_IN_ZIP}/{rel}", text)
    return buffer.getvalue()


def load(kind: str, bundle_dir: Path = BUNDLE_DIR) -> list[dict]:
    """The parsed YAML of one kind (``databases``, ``datasets``, ``charts``, ``dashboards``)."""
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in bundle_files(bundle_dir / kind)]


# --------------------------------------------------------------------------- query contexts

#: chart types whose query the generator below knows (what the frontend's buildQuery sends)
TIMESERIES = ("echarts_timeseries_line", "echarts_timeseries_bar")
QUERY_VIZ_TYPES = (*TIMESERIES, "table", "big_number_total")


def _filters(params: dict) -> tuple[list[dict], dict[str, str]]:
    """Simple adhoc filters -> query filters; SQL ones -> extras (WHERE / HAVING)."""
    filters: list[dict] = []
    where: list[str] = []
    having: list[str] = []
    for f in params.get("adhoc_filters") or []:
        if f.get("expressionType") == "SIMPLE":
            filters.append({"col": f["subject"], "op": f["operator"], "val": f.get("comparator")})
        else:
            (having if f.get("clause") == "HAVING" else where).append(f"({f['sqlExpression']})")
    return filters, {"having": " AND ".join(having), "where": " AND ".join(where)}


def with_query_context(chart: dict, dataset_ids: dict[str, int]) -> dict:
    """The chart with the query context of the target Superset: generated from its params for the
    chart types :func:`query_context` knows (a query context copied from an export would carry
    the exporting instance's dataset id); for another type, a committed one is kept and pointed
    at the target's dataset id (none committed: none; its data API answers 400, a test says so)."""
    params = chart["params"]
    dataset_id = dataset_ids[params["datasource"].removeprefix("__").removesuffix("__table")]
    if params["viz_type"] in QUERY_VIZ_TYPES:
        context = query_context(params, dataset_id)
    elif chart.get("query_context"):
        context = json.loads(chart["query_context"])
        context["datasource"] = {"id": dataset_id, "type": "table"}
        context.setdefault("form_data", {})["datasource"] = f"{dataset_id}__table"
    else:
        return chart
    return {**chart, "query_context": json.dumps(context, sort_keys=True)}


def query_context(params: dict, dataset_id: int) -> dict:
    """The query context a chart saved in the UI would carry, from its ``params`` (form data):
    what ``GET /api/v1/chart/<id>/data`` runs (and reports and alerts). Superset's importer keeps
    a chart's ``query_context`` as given and the dataset id is known only in the target Superset,
    so it is generated at import time. Mirrors the frontend's buildQuery of each chart type in
    :data:`QUERY_VIZ_TYPES` (the bundle uses no other)."""
    viz = params["viz_type"]
    if viz not in QUERY_VIZ_TYPES:
        raise ValueError(f"no query context generator for viz_type {viz!r}")
    filters, extras = _filters(params)
    query: dict = {
        "time_range": params.get("time_range", "No filter"), "filters": filters, "extras": extras,
        "applied_time_extras": {}, "annotation_layers": [], "row_limit": int(params.get("row_limit") or 10000),
        "series_limit": int(params.get("series_limit") or 0), "order_desc": bool(params.get("order_desc", True)),
        "url_params": {}, "custom_params": {}, "custom_form_data": {}, "post_processing": [],
    }
    descending = query["order_desc"]
    if viz in TIMESERIES:
        groupby = list(params.get("groupby") or [])
        metrics = list(params["metrics"])
        x_axis = params["x_axis"]
        sort_metric = params.get("series_limit_metric") or params.get("timeseries_limit_metric") or metrics[0]
        query.update({
            "columns": [{"timeGrain": params.get("time_grain_sqla"), "columnType": "BASE_AXIS",
                         "sqlExpression": x_axis, "label": x_axis, "expressionType": "SQL"}, *groupby],
            "series_columns": groupby, "metrics": metrics, "orderby": [[sort_metric, not descending]],
            "time_offsets": [],
            "post_processing": [
                {"operation": "pivot", "options": {"index": [x_axis], "columns": groupby,
                                                   "aggregates": {m: {"operator": "mean"} for m in metrics},
                                                   "drop_missing_columns": False}},
                {"operation": "flatten"},
            ],
        })
        if params.get("series_limit_metric"):
            query["series_limit_metric"] = params["series_limit_metric"]
    elif viz == "table" and params.get("query_mode") == "raw":
        query.update({"columns": list(params["all_columns"]), "metrics": [],
                      "orderby": [json.loads(o) for o in params.get("order_by_cols") or []]})
    elif viz == "table":
        metrics = list(params.get("metrics") or [])
        sort_metric = params.get("timeseries_limit_metric") or (metrics[0] if metrics else None)
        query.update({"columns": list(params.get("groupby") or []), "metrics": metrics,
                      "orderby": [[sort_metric, not descending]] if sort_metric else []})
    else:  # big_number_total
        query.update({"columns": [], "metrics": [params["metric"]], "orderby": []})
    return {
        "datasource": {"id": dataset_id, "type": "table"},
        "force": False,
        "queries": [query],
        "form_data": {**params, "datasource": f"{dataset_id}__table"},
        "result_format": "json",
        "result_type": "full",
    }
