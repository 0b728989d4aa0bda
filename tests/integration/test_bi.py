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


def _browse(superset, bi_paths, username: str, password: str, slugs: list[str], screens: Path) -> dict[str, dict]:
    """Open dashboards in headless Chromium as this user (bi/browser_check.py): per slug, what
    every chart holder shows, the tables' text and a screenshot."""
    cookie = Superset(superset["url"]).browser_login(username, password)
    spec = {"url": superset["url"], "session_cookie": cookie, "slugs": slugs, "screens": str(screens), "timeout": 90}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    script = Path(bundle.__file__).with_name("browser_check.py")
    done = subprocess.run([str(bi_paths.python), str(script), handle.name], capture_output=True, text=True,
                          timeout=900)
    Path(handle.name).unlink()
    assert done.returncode == 0, done.stderr[-3000:]
    return {r["slug"]: r for r in map(json.loads, done.stdout.strip().splitlines())}


def _column(tables: list[dict], header: str) -> list[str]:
    """Every value shown under ``header`` in these tables."""
    values = []
    for table in tables:
        if header in table["headers"]:
            i = table["headers"].index(header)
            values += [row[i] for row in table["rows"] if len(row) > i]
    return values


def test_every_dashboard_renders_in_chromium(superset, bi_paths):
    """Each dashboard in headless Chromium: every chart holder renders, no error alert; one
    screenshot per dashboard under $ANDON_HOME/bi/screens."""
    expected = {d["slug"]: sum(1 for v in d["position"].values() if isinstance(v, dict) and v.get("type") == "CHART")
                for d in bundle.load("dashboards")}
    results = _browse(superset, bi_paths, server.ADMIN_USER, server.admin_password(), sorted(expected),
                      bi_paths.screens)
    assert set(results) == set(expected)
    for slug, result in results.items():
        assert result["alerts"] == [], (slug, result["alerts"])
        assert result["charts"] == expected[slug], (slug, result)
        assert result["rendered"] == expected[slug], (slug, result["empty"])
        assert Path(result["screenshot"]).stat().st_size > 10_000, slug
    # the supplier check below is meaningful: an admin's Supplier quality tables show several suppliers
    assert len(set(_column(results["supplier-quality"]["tables"], "Supplier"))) > 1
    print({slug: r["seconds"] for slug, r in results.items()})  # load times, for the record (-s)


def test_a_supplier_sees_only_its_own_rows_in_the_browser(superset, bi_paths, cfg, tmp_path):
    """A supplier_<ID> login opens Supplier quality in Chromium: every chart renders, no alert,
    and every supplier shown in its tables is its own."""
    lots = DeltaTable(cfg.table_path("gold", "fct_supplier_lot_quality")).to_pandas(columns=["supplier_id"])
    supplier = lots["supplier_id"].value_counts().index[0]
    result = _browse(superset, bi_paths, provision.supplier_role(supplier).lower(), provision.demo_password(),
                     ["supplier-quality"], tmp_path)["supplier-quality"]
    assert result["alerts"] == [] and result["rendered"] == result["charts"] > 0, result
    shown = _column(result["tables"], "Supplier")
    assert shown and set(shown) == {supplier}, (supplier, sorted(set(shown)))


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


def _charts(client: Superset) -> dict[str, int]:
    return {c["slice_name"]: c["id"] for c in client.list_all("chart", columns=["id", "slice_name"])}


def test_every_chart_answers_the_chart_data_api(superset, admin):
    """Every chart of the bundle answers GET /api/v1/chart/<id>/data (its generated query context)
    without ever being opened in the UI, with rows."""
    charts = _charts(admin)
    rows = {}
    for chart in bundle.load("charts"):
        (result,) = admin.chart_data(charts[chart["slice_name"]])
        assert result.get("error") is None, (chart["slice_name"], result.get("error"))
        rows[chart["slice_name"]] = result["rowcount"]
    assert all(n > 0 for n in rows.values()), rows


def test_open_warnings_are_the_workflows_open_episodes(superset, admin, cfg, bi_paths):
    """The Early warnings dashboard's open warnings are `andon warnings list --open`: the same
    episodes, ids, owners, statuses and escalations (reporting.workflow); a status change shows
    on the dashboard at its next refresh."""
    from reporting import workflow

    def through_superset() -> dict[str, dict]:
        rows = _sql(admin, "select warning_id, owner, status, is_escalated, days_warned from open_warnings")
        return {r["warning_id"]: r for r in rows}

    def expected() -> dict[str, dict]:
        table = workflow.warnings_table(cfg)
        return {r.warning_id: {"warning_id": r.warning_id, "owner": r.owner, "status": r.status,
                               "is_escalated": bool(r.escalated), "days_warned": int(r.days_warned)}
                for r in table.itertuples() if r.status != "closed"}

    assert through_superset() == expected() != {}
    charts = _charts(admin)
    count_chart = charts[_chart_title("ew-current-count")]
    open_before = admin.chart_data(count_chart)[0]["data"][0]["open_warnings"]
    assert open_before == len(expected())
    # the workflow's first status change creates ops.warning_dispositions (a new table: the next
    # `make bi` / `python -m bi catalog` adds it); later changes need nothing
    chosen = sorted(w for w, r in expected().items() if r["status"] == "new")[0]
    workflow.transition(cfg, chosen, "ack", actor="bi-test")
    provision.refresh_catalog(cfg, bi_paths)
    assert through_superset()[chosen]["status"] == "acknowledged"
    workflow.transition(cfg, chosen, "dismiss", actor="bi-test")
    assert through_superset()[chosen]["status"] == "false_alarm"
    workflow.transition(cfg, chosen, "close", actor="bi-test", note="closed by the BI test")
    assert chosen not in through_superset() and through_superset() == expected()
    assert admin.chart_data(count_chart)[0]["data"][0]["open_warnings"] == open_before - 1


def _chart_title(slug: str) -> str:
    import yaml

    return yaml.safe_load((bundle.BUNDLE_DIR / "charts" / f"{slug}.yaml").read_text())["slice_name"]


def test_next_scoring_run_shows_and_concurrent_reads_see_whole_versions(superset, admin, cfg, spark):
    """A scoring run's commit (andon.delta.write_table, as ml.jobs.score_window writes) shows up
    through Superset with no re-provisioning; while commits replace and add score days, a reader
    looping over SQL Lab and the chart-data API never fails and only ever sees the row count of a
    committed Delta version (never a half-written table). The table is RESTOREd afterwards."""
    import threading
    from datetime import timedelta

    from pyspark.sql import functions as F

    from andon.delta import write_table

    path = cfg.table_path("gold", "early_warning_scores")
    start_version = DeltaTable(path).version()
    datasets = _datasets(admin)
    scores = spark.read.format("delta").load(path)
    last_day = scores.agg(F.max("score_date")).first()[0]
    last = scores.where(F.col("score_date") == F.lit(last_day)).cache()
    n_day = last.count()
    assert n_day > 1

    def day(offset: int, fraction: float = 1.0):
        new_day = last_day + timedelta(days=offset)
        frame = last.withColumn("score_date", F.lit(new_day))
        return (frame.limit(max(1, int(n_day * fraction))) if fraction < 1 else frame), new_day

    def commit(offset: int, fraction: float = 1.0) -> None:
        frame, new_day = day(offset, fraction)
        write_table(frame, cfg, "gold", "early_warning_scores", f"score_date = '{new_day}'", partition_by=["scope"])

    def rows_per_day() -> dict[str, int]:
        day_column = {"sqlExpression": "cast(score_date as varchar)", "label": "day", "expressionType": "SQL"}
        return {r["day"]: r["count"] for r in admin.query(datasets["early_warning_scores"], [day_column], ["count"])}

    total_sql = 'select count(*) as n from "early_warning_scores"'
    try:
        # the next day's scoring run: visible at once, through the chart-data API and SQL Lab
        before = _sql(admin, total_sql)[0]["n"]
        assert str(last_day + timedelta(days=1)) not in rows_per_day()
        commit(1)
        assert rows_per_day()[str(last_day + timedelta(days=1))] == n_day
        assert _sql(admin, total_sql)[0]["n"] == before + n_day

        # concurrent reads while commits add and replace days
        seen: list[int] = []
        errors: list[str] = []
        done = threading.Event()

        def reader() -> None:
            reader_client = provision.admin_client(superset["url"])
            i = 0
            while not done.is_set():
                try:
                    if i % 2:
                        seen.append(int(_sql(reader_client, total_sql)[0]["n"]))
                    else:
                        rows = reader_client.query(datasets["early_warning_scores"], [], ["count"])
                        seen.append(int(rows[0]["count"]))
                except Exception as exc:  # noqa: BLE001 - every failure is the finding
                    errors.append(repr(exc)[:300])
                i += 1

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for offset, fraction in ((2, 1.0), (2, 0.5), (1, 0.5)):  # add a day, replace it, replace another
                commit(offset, fraction)
        finally:
            done.set()
            thread.join(timeout=120)
        table = DeltaTable(path)
        versions = {DeltaTable(path, version=v).to_pyarrow_dataset().count_rows()
                    for v in range(start_version, table.version() + 1)}
        assert errors == []
        assert len(seen) >= 4 and set(seen) <= versions, (sorted(set(seen)), sorted(versions))
        assert len(set(seen)) >= 2, "the reads did not overlap the commits"
        print({"reads": len(seen), "counts_seen": len(set(seen)), "versions": len(versions)})
    finally:
        last.unpersist()
        spark.sql(f"RESTORE TABLE delta.`{path}` TO VERSION AS OF {start_version}")
