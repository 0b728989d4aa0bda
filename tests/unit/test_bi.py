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
