"""The analysts' Superset end to end on the session's tiny world (tests/integration/world.py).

One Superset per test session, provisioned from the repository exactly as ``make bi`` does
(``bi.provision.up``: the install from the lock file when missing, a fresh metadata DB under this
session's ANDON_HOME, the DuckDB catalog, gunicorn on a free port, the bundle, roles and RLS).
It reads the gold tables the warning chain leaves behind (``tests/conftest.py`` runs this file
after the others); run alone, it runs that chain first (the ``chain`` fixture of
test_warning_chain.py, so scores exist for the Early warnings dashboard).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest
from deltalake import DeltaTable

from bi import bundle, catalog, provision, server
from bi.client import Superset, SupersetError
from tests.conftest import _free_port
from tests.integration.test_warning_chain import chain, dagbag  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def bi_paths(cfg) -> server.BiPaths:
    return server.BiPaths.of(cfg)


@pytest.fixture(scope="module")
def world(request, cfg):
    """The shared world with scores: as the other integration tests leave it, or the chain runs now."""
    if not DeltaTable.is_deltatable(cfg.table_path("gold", "early_warning_scores")):
        request.getfixturevalue("chain")
    return True


@pytest.fixture(scope="module")
def superset(world, cfg, bi_paths):
    """A Superset provisioned from the bundle; stopped (by its PID) at the end."""
    url, summary = provision.up(cfg, bi_paths, port=_free_port(), log=lambda *_: None)
    try:
        yield {"url": url, **summary}
    finally:
        server.stop(bi_paths, log=lambda *_: None)


@pytest.fixture(scope="module")
def admin(superset) -> Superset:
    return provision.admin_client(superset["url"])


def _datasets(client: Superset) -> dict[str, int]:
    return {d["table_name"]: d["id"] for d in client.list_all("dataset", columns=["id", "table_name"])}


def _sql(client: Superset, sql: str) -> list[dict]:
    database = next(d for d in client.list_all("database") if d["database_name"] == "andon_gold")
    result = client.post("/api/v1/sqllab/execute/", json={"database_id": database["id"], "sql": sql,
                                                          "runAsync": False, "schema": "main"})
    return result["data"]


def test_provisioned_from_the_bundle(superset, admin, bi_paths):
    """Every dashboard, chart and dataset of the bundle exists, charts sit on their dashboards,
    and a second import (what a second `make bi` does) changes nothing."""
    expected = {d["slug"]: d for d in bundle.load("dashboards")}
    assert len(expected) == 5

    def state():
        dashboards = {d["slug"]: d["id"] for d in admin.list_all("dashboard")}
        charts = {s: sorted(c["slice_name"] for c in admin.get(f"/api/v1/dashboard/{i}/charts")["result"])
                  for s, i in dashboards.items()}
        return dashboards, charts, len(admin.list_all("chart")), _datasets(admin)

    dashboards, charts, n_charts, datasets = state()
    assert set(dashboards) == set(expected)
    for slug, config in expected.items():
        in_position = sorted(v["meta"]["sliceName"] for v in config["position"].values()
                             if isinstance(v, dict) and v.get("type") == "CHART")
        assert charts[slug] == in_position, slug
    assert n_charts == len(bundle.load("charts"))
    assert set(datasets) == {d["table_name"] for d in bundle.load("datasets")}
    # the database URI was templated at import: the catalog of this ANDON_HOME, read-only
    database = next(d for d in admin.list_all("database") if d["database_name"] == "andon_gold")
    uri = admin.get(f"/api/v1/database/{database['id']}/connection")["result"]["sqlalchemy_uri"]
    assert str(bi_paths.catalog) in uri and "access_mode=read_only" in uri

    provision.import_bundle(admin, bi_paths)
    assert state() == (dashboards, charts, n_charts, datasets)


def test_catalog_counts_match_the_delta_tables(superset, admin, cfg):
    """Through Superset (SQL Lab on the DuckDB catalog), every gold table has exactly the rows
    delta-rs reads from its latest version."""
    gold = catalog.gold_tables(cfg)
    assert {"early_warning_scores", "fct_supplier_lot_quality", "fct_station_daily_yield"} <= set(gold)
    union = " union all ".join(f"select '{t}' as t, count(*) as n from \"{t}\"" for t in gold)
    through_superset = {r["t"]: r["n"] for r in _sql(admin, union)}
    independent = {t: DeltaTable(p).to_pyarrow_dataset().count_rows() for t, p in gold.items()}
    assert through_superset == independent
    from spark_jobs.mart.runner import SIGNAL_ONLY_MARTS

    assert all(n > 0 for t, n in independent.items() if t not in SIGNAL_ONLY_MARTS), independent


def test_no_customer_data_reaches_superset(superset, admin):
    columns = _sql(admin, "select table_name, column_name from information_schema.columns")
    leaked = [(c["table_name"], c["column_name"]) for c in columns if "customer" in c["column_name"].lower()]
    assert leaked == []


def test_every_dashboard_renders_in_chromium(superset, bi_paths):
    """Each dashboard in headless Chromium: every chart holder renders, no error alert; one
    screenshot per dashboard under $ANDON_HOME/bi/screens."""
    client = Superset(superset["url"])
    cookie = client.browser_login(server.ADMIN_USER, server.admin_password())
    expected = {d["slug"]: sum(1 for v in d["position"].values() if isinstance(v, dict) and v.get("type") == "CHART")
                for d in bundle.load("dashboards")}
    spec = {"url": superset["url"], "session_cookie": cookie, "slugs": sorted(expected),
            "screens": str(bi_paths.screens), "timeout": 90}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    script = Path(bundle.__file__).with_name("browser_check.py")
    done = subprocess.run([str(bi_paths.python), str(script), handle.name], capture_output=True, text=True,
                          timeout=900)
    Path(handle.name).unlink()
    assert done.returncode == 0, done.stderr[-3000:]
    results = {r["slug"]: r for r in map(json.loads, done.stdout.strip().splitlines())}
    assert set(results) == set(expected)
    for slug, result in results.items():
        assert result["alerts"] == [], (slug, result["alerts"])
        assert result["charts"] == expected[slug], (slug, result)
        assert result["rendered"] == expected[slug], (slug, result["empty"])
        assert Path(result["screenshot"]).stat().st_size > 10_000, slug
    print({slug: r["seconds"] for slug, r in results.items()})  # load times, for the record (-s)


def test_a_supplier_sees_only_its_own_rows(superset, admin, cfg):
    lots = DeltaTable(cfg.table_path("gold", "fct_supplier_lot_quality")).to_pandas(columns=["supplier_id"])
    supplier = lots["supplier_id"].value_counts().index[0]
    assert lots["supplier_id"].nunique() > 1 and supplier in superset["suppliers"]
    datasets = _datasets(admin)
    user = Superset(superset["url"]).login(provision.supplier_role(supplier).lower(), provision.demo_password())
    rows = user.query(datasets["fct_supplier_lot_quality"], ["supplier_id"], ["count"])
    assert rows == [{"supplier_id": supplier, "count": int((lots["supplier_id"] == supplier).sum())}]
    scores = user.query(datasets["early_warning_scores"], ["supplier_id"], ["count"])
    assert {r["supplier_id"] for r in scores} <= {supplier}
    # the same query as admin sees every supplier
    everyone = admin.query(datasets["fct_supplier_lot_quality"], ["supplier_id"], ["count"])
    assert len(everyone) == lots["supplier_id"].nunique()
    # datasets without a supplier column are not shared with suppliers at all
    with pytest.raises(SupersetError, match="403"):
        user.query(datasets["fct_station_daily_yield"], ["site_id"], ["count"])


def test_leadership_reads_but_cannot_write(superset, admin):
    user = Superset(superset["url"]).login("leadership", provision.demo_password())
    datasets = _datasets(admin)
    assert user.query(datasets["fct_station_daily_yield"], ["site_id"], ["count"])
    with pytest.raises(SupersetError, match="403"):
        user.post("/api/v1/dashboard/", json={"dashboard_title": "not allowed"})
