"""The analysts' Superset without Superset: the bundle's integrity, the zip, the catalog spec."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import yaml

from bi import bundle, catalog
from bi.client import _rison

PARAMS = {"ANDON_BI_CATALOG_URI": "duckdb:////x/gold.duckdb?access_mode=read_only"}


def test_every_reference_in_the_bundle_resolves():
    databases = {d["uuid"] for d in bundle.load("databases")}
    datasets = {d["uuid"]: d for d in bundle.load("datasets")}
    charts = {c["uuid"]: c for c in bundle.load("charts")}
    assert all(d["database_uuid"] in databases for d in datasets.values())
    for chart in charts.values():
        dataset = datasets[chart["dataset_uuid"]]
        assert chart["params"]["datasource"] == f"__{dataset['table_name']}__table"
        columns = {c["column_name"] for c in dataset["columns"]}
        metrics = {m["metric_name"] for m in dataset["metrics"]}
        used = [*chart["params"].get("groupby", []), *chart["params"].get("all_columns", [])]
        if chart["params"].get("x_axis"):
            used.append(chart["params"]["x_axis"])
        assert set(used) <= columns, chart["slice_name"]
        p = chart["params"]
        wanted = [*p.get("metrics", []), *(p[k] for k in ("metric", "timeseries_limit_metric", "series_limit_metric")
                                           if p.get(k))]
        assert set(wanted) <= metrics, chart["slice_name"]
    on_dashboards = []
    for dashboard in bundle.load("dashboards"):
        position = dashboard["position"]
        chart_ids = set()
        for key, node in position.items():
            if not isinstance(node, dict):
                continue
            for child in node.get("children", []):
                assert child in position, (dashboard["slug"], key, child)
            if node["type"] == "CHART":
                assert node["meta"]["uuid"] in charts
                chart_ids.add(node["meta"]["chartId"])
                on_dashboards.append(node["meta"]["uuid"])
        for native in dashboard["metadata"]["native_filter_configuration"]:
            for target in native["targets"]:
                if "datasetUuid" in target:
                    assert target["datasetUuid"] in datasets, native["name"]
            assert set(native["scope"]["excluded"]) <= chart_ids, native["name"]
    assert sorted(on_dashboards) == sorted(charts)  # every chart is on exactly one dashboard


def test_no_machine_path_is_committed():
    for path in bundle.bundle_files():
        text = path.read_text(encoding="utf-8")
        assert "/work/" not in text and "/home/" not in text and "/root/" not in text, path
    database = bundle.load("databases")[0]
    assert database["sqlalchemy_uri"] == "${ANDON_BI_CATALOG_URI}"


@pytest.mark.parametrize(("level", "kind", "folders"), bundle.LEVELS)
def test_each_import_level_zips_its_folders_with_its_type(level, kind, folders):
    with zipfile.ZipFile(io.BytesIO(bundle.zip_bundle(PARAMS, level=level))) as zf:
        names = zf.namelist()
        meta = yaml.safe_load(zf.read(f"{bundle.ROOT_IN_ZIP}/metadata.yaml"))
        assert meta["type"] == kind
        assert {Path(n).parts[1] for n in names if not n.endswith("metadata.yaml")} == set(folders)
        database = yaml.safe_load(zf.read(f"{bundle.ROOT_IN_ZIP}/databases/andon_gold.yaml"))
        assert database["sqlalchemy_uri"] == PARAMS["ANDON_BI_CATALOG_URI"]


def test_an_unfilled_placeholder_is_an_error():
    with pytest.raises(KeyError, match="ANDON_BI_CATALOG_URI"):
        bundle.zip_bundle({})


def test_catalog_views_cover_the_gold_tables_that_exist(tmp_path):
    from andon.config import load_settings

    lake = tmp_path / "lakehouse"
    for table in ("fct_a", "early_warning_scores", "fct_supplier_lot_quality"):
        (lake / "gold" / table / "_delta_log").mkdir(parents=True)
    (lake / "gold" / "not_a_table").mkdir()
    cfg = load_settings(environ={"ANDON_HOME": str(tmp_path)})
    views = catalog.catalog_views(cfg)
    assert views["fct_a"] == f"select * from delta_scan('{(lake / 'gold' / 'fct_a').resolve()}')"
    assert "not_a_table" not in views and "dq_results" not in views  # no ops table yet
    assert "delta_scan" in views["early_warning_scores"] and "feature_names" in views["early_warning_scores"]
    assert "fct_supplier_lot_quality" in views["early_warning_scores"]  # supplier of a lot, for RLS
    assert not any("silver" in sql for sql in views.values())


def test_catalog_without_scores_keeps_the_scores_view_empty(tmp_path):
    """Before the first scoring run the Early warnings dashboard still opens (no rows)."""
    duckdb = pytest.importorskip("duckdb")
    from andon.config import load_settings

    cfg = load_settings(environ={"ANDON_HOME": str(tmp_path)})
    views = catalog.catalog_views(cfg)
    con = duckdb.connect()
    con.execute(f"create view early_warning_scores as {views['early_warning_scores']}")
    con.execute(f"create view early_warnings_latest as {views['early_warnings_latest']}")
    assert con.execute("select count(*) from early_warnings_latest").fetchone() == (0,)
    assert [r[0] for r in con.execute("describe early_warning_scores").fetchall()] == list(catalog.SCORES_COLUMNS)


def test_catalog_is_swapped_in_while_a_reader_holds_it(tmp_path):
    """A new catalog replaces the file Superset has open read-only (os.replace), and the reader
    keeps its snapshot until it reconnects."""
    duckdb = pytest.importorskip("duckdb")
    from bi import duckdb_catalog

    target = tmp_path / "gold.duckdb"
    duckdb_catalog.build_catalog(target, tmp_path / "ext", {"v": "select 1 as x"})
    reader = duckdb.connect(str(target), read_only=True)
    counts = duckdb_catalog.build_catalog(target, tmp_path / "ext", {"v": "select * from range(3)", "w": "select 2"})
    assert counts == {"v": 3, "w": 1}
    assert reader.execute("select count(*) from v").fetchone() == (1,)
    reader.close()
    assert duckdb.connect(str(target), read_only=True).execute("select count(*) from v").fetchone() == (3,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gold.duckdb"]  # no temp file left


def test_rison():
    query = {"page": 0, "filters": [{"col": "name", "opr": "eq", "value": "a b"}]}
    assert _rison(query) == "(page:0,filters:!((col:name,opr:eq,value:'a b')))"
    assert _rison([1, 2]) == "!(1,2)"
    assert _rison(True) == "!t"


def test_every_chart_gets_a_query_context_at_import():
    """Charts are committed without a query context (it needs the target's dataset ids); the
    chart-level zip generates one per chart from its params, pointing at its dataset's id."""
    import json

    tables = sorted({d["table_name"] for d in bundle.load("datasets")})
    ids = {t: 100 + i for i, t in enumerate(tables)}
    with zipfile.ZipFile(io.BytesIO(bundle.zip_bundle(PARAMS, level="chart", dataset_ids=ids))) as zf:
        charts = [yaml.safe_load(zf.read(n)) for n in zf.namelist() if "/charts/" in n]
    assert len(charts) == len(bundle.load("charts"))
    for chart in charts:
        params = chart["params"]
        table = params["datasource"].removeprefix("__").removesuffix("__table")
        qc = json.loads(chart["query_context"])
        assert qc["datasource"] == {"id": ids[table], "type": "table"}, chart["slice_name"]
        assert qc["form_data"]["datasource"] == f"{ids[table]}__table"
        (query,) = qc["queries"]
        assert query["columns"] or query["metrics"], chart["slice_name"]
        if params["viz_type"].startswith("echarts_timeseries"):
            axis = query["columns"][0]
            assert axis["columnType"] == "BASE_AXIS" and axis["sqlExpression"] == params["x_axis"]
            assert axis["timeGrain"] == params.get("time_grain_sqla")
        if params.get("query_mode") == "raw":
            assert query["columns"] == params["all_columns"] and query["metrics"] == []
            assert all(isinstance(o, list) and len(o) == 2 for o in query["orderby"])
    # without dataset ids (database/dataset levels, or no Superset at hand) nothing is generated
    with zipfile.ZipFile(io.BytesIO(bundle.zip_bundle(PARAMS, level="chart"))) as zf:
        assert all(yaml.safe_load(zf.read(n))["query_context"] is None for n in zf.namelist() if "/charts/" in n)


def test_query_context_of_an_unknown_chart_type_is_an_error():
    with pytest.raises(ValueError, match="pie"):
        bundle.query_context({"viz_type": "pie"}, 1)


def test_episode_views_are_the_warning_workflows(tmp_path):
    """The open-warnings views (DuckDB SQL) give the episodes, ids, owners, statuses and
    escalations of reporting.workflow (pandas) on the same scores and history."""
    duckdb = pytest.importorskip("duckdb")
    from datetime import date, datetime

    import pandas as pd

    from andon.config import load_settings
    from reporting import workflow

    cfg = load_settings(environ={"ANDON_HOME": str(tmp_path)})
    days = {  # entity -> warning days (day numbers of June 2025); other days score below threshold
        ("incoming_material", "LOT-1"): [1, 2, 3, 12, 13],  # gap of 9 days: two episodes
        ("factory_output", "SZX-L1"): [5, 6, 12, 19],  # gaps of 6 and 7 days: one episode
        ("field_return", "GDL-L2-AX100-20250601"): [19, 20],  # first warned 1 day before as-of: not escalated
        ("factory_output", "BRQ-L1"): [10, 14],  # new, 10 days old, still active: escalated
    }
    rows = []
    for (scope, entity), warned in days.items():
        for d in range(1, 21):
            rows.append({"scope": scope, "entity_id": entity, "score_date": date(2025, 6, d),
                         "score": d / 10 + (0.5 if d in warned else 0), "is_warning": d in warned,
                         "threshold": 0.5, "top_factors": "a; b", "model_name": f"m_{scope}",
                         "model_version": str(d % 3), "scope_name": scope, "entity_type": "x",
                         "site_id": entity[:3], "supplier_id": None})
    scores = pd.DataFrame(rows)
    expected = workflow.episodes(scores)
    hist = pd.DataFrame([
        {"warning_id": expected.warning_id[0], "scope": "", "entity_id": "", "first_warning": datetime(2025, 6, 1),
         "from_status": "new", "to_status": "acknowledged", "actor": "a", "note": None,
         "changed_at": datetime(2025, 6, 2)},
        {"warning_id": expected.warning_id[0], "scope": "", "entity_id": "", "first_warning": datetime(2025, 6, 1),
         "from_status": "acknowledged", "to_status": "false_alarm", "actor": "b", "note": "n",
         "changed_at": datetime(2025, 6, 3)},
        {"warning_id": expected.warning_id[1], "scope": "", "entity_id": "", "first_warning": datetime(2025, 6, 5),
         "from_status": "false_alarm", "to_status": "closed", "actor": "c", "note": None,
         "changed_at": datetime(2025, 6, 4)},
    ])
    # detector evidence: the build lot carries a flagged supplier lot (rank 1; a rank-2 station), one
    # flagged after the warning ran does not count; SZX-L1's FT false fails signalled while it warned
    suspects = pd.DataFrame({
        "build_lot_id": ["GDL-L2-AX100-20250601"] * 3, "suspect_rank": [2, 1, 3],
        "suspect_type": ["station", "supplier_lot", "supplier_lot"],
        "suspect_id": ["GDL-L2-FT", "SUP1-CAP-L7", "SUP2-RES-L9"], "owner_hint": ["GDL-L2-FT", "SUP1", "SUP2"],
        "evidence": ["s", "lot", "late"], "flagged_date": [date(2025, 6, 2), date(2025, 6, 3), date(2025, 6, 25)],
    })
    cusum = pd.DataFrame({
        "line_id": ["SZX-L1", "SZX-L1", "SZX-L1"], "monitor_level": ["station", "station", "line"],
        "station_id": ["SZX-L1-ICT", "SZX-L1-FT", None],
        "tested_date": [date(2025, 6, 6), date(2025, 6, 12), date(2025, 6, 12)],
        "is_true_fail_signal": [True, False, True], "is_false_fail_signal": [False, True, False],
        "cusum_true": [7.0, 0.0, 30.0], "cusum_false": [0.0, 9.0, 0.0], "description": ["i", "f", "l"],
    })
    cfg.raw["warnings"]["routing"] = [{"scope": "factory_output", "entity": "*-FT", "owner": "test-engineering"},
                                      *cfg.raw["warnings"]["routing"]]
    con = duckdb.connect()
    con.register("early_warning_scores", scores)
    con.register("history", hist)
    con.register("suspects", suspects)
    con.register("cusum", cusum)
    views = catalog.episode_views(cfg, "history", "suspects", "cusum")
    con.execute(f"create view warning_episodes as {views['warning_episodes']}")
    con.execute(f"create view open_warnings as {views['open_warnings']}")
    got = con.execute("select * from warning_episodes order by first_warning, warning_id").df()
    # warnings_table, without its storage: the same steps on the same frames
    settings = workflow.WorkflowSettings.from_config(cfg.raw)
    state = workflow.current_status(hist)
    as_of = max(expected["last_warning"])
    gold = {"fct_build_lot_suspects": suspects, "fct_yield_cusum": cusum}
    routed = [workflow.route_warning(s, e, f, la, gold, settings) for s, e, f, la in
              zip(expected.scope, expected.entity_id, expected.first_warning, expected.last_warning, strict=True)]
    expected["owner"], expected["routed_by"] = [o for o, _ in routed], [r for _, r in routed]
    assert set(expected.routed_by) == {"entity", "suspect SUP1-CAP-L7", "suspect SZX-L1-FT"}
    assert "test-engineering" in set(expected.owner)
    expected["status"] = [state.get(i, {}).get("to_status", "new") for i in expected.warning_id]
    expected["escalated"] = ((expected.status == "new") & (expected.first_warning <= as_of - pd.Timedelta(days=3))
                             & (expected.last_warning > as_of - pd.Timedelta(days=7)))
    assert len(expected) == 5
    assert list(got.warning_id) == list(expected.warning_id)
    assert [d.date() for d in got.first_warning] == list(expected.first_warning)
    assert [d.date() for d in got.last_warning] == list(expected.last_warning)
    assert list(got.days_warned) == list(expected.days_warned)
    assert list(got.max_score) == pytest.approx(list(expected.max_score))
    assert list(got.model) == list(expected.model)
    assert list(got.owner) == list(expected.owner)
    assert list(got.routed_by) == list(expected.routed_by)
    assert list(got.status) == list(expected.status)
    assert list(got.is_escalated) == list(expected.escalated)
    assert set(con.execute("select warning_id from open_warnings").df().warning_id) == set(
        expected.warning_id[expected.status != "closed"])


def test_a_committed_query_context_points_at_the_target_dataset():
    """A chart type without a generator keeps its exported query context, re-pointed at the
    target Superset's dataset; a known type's exported context is replaced (stale dataset id)."""
    import json

    exported = {"datasource": {"id": 7, "type": "table"}, "queries": [{"metrics": ["count"]}],
                "form_data": {"datasource": "7__table", "viz_type": "pie"}}
    chart = {"params": {"viz_type": "pie", "datasource": "__t__table"}, "query_context": json.dumps(exported)}
    qc = json.loads(bundle.with_query_context(chart, {"t": 42})["query_context"])
    assert qc["datasource"] == {"id": 42, "type": "table"} and qc["form_data"]["datasource"] == "42__table"
    assert qc["queries"] == exported["queries"]
    table = {"params": {"viz_type": "table", "datasource": "__t__table", "query_mode": "raw", "all_columns": ["a"]},
             "query_context": json.dumps(exported)}
    qc = json.loads(bundle.with_query_context(table, {"t": 42})["query_context"])
    assert qc["datasource"]["id"] == 42 and qc["queries"][0]["columns"] == ["a"]
    assert bundle.with_query_context({"params": {"viz_type": "pie", "datasource": "__t__table"}}, {"t": 1}) == {
        "params": {"viz_type": "pie", "datasource": "__t__table"}}
