"""The early-warning chain end to end on the tiny landed world, through the real DAGs.

Runs after ``test_landing_dag.py`` and ``test_quality_mart.py`` (alphabetical order) on the data
they leave in this session's ANDON_HOME (``tests/integration/world.py``); run alone, it lands the
world itself first. Then, each through ``dag.test()`` in this process (one Spark session):
``andon_quality_mart`` -> ``andon_training`` -> ``andon_scoring`` -> ``andon_digest``, and the
evaluation harness. Label rules are relaxed for tiny data by ``tests/conftest.py`` (ANDON__ML__*).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from andon.tables import read_table
from tests.conftest import REPO
from tests.integration.world import DAYS, END, START, land_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dagbag(cfg):
    import os
    import subprocess
    import sys

    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], check=True, env=os.environ, capture_output=True, timeout=300)
    subprocess.run([airflow, "pools", "set", "spark_embedded", "1", "test pool"], check=True, env=os.environ,
                   capture_output=True, timeout=300)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag


def run(bag, dag_id: str, conf: dict | None = None):
    from airflow.utils.state import DagRunState

    dag_run = bag.dags[dag_id].test(run_conf=conf or {})
    assert dag_run.state == DagRunState.SUCCESS, f"{dag_id} ended {dag_run.state}"
    return dag_run


_CHAIN: dict[str, object] = {}


@pytest.fixture(scope="module")
def chain(cfg, spark, dagbag):
    """Run the chain once; a failure is remembered, so the other tests fail at once instead of
    re-running the whole chain (pytest re-runs a failed module fixture for every test)."""
    if "error" in _CHAIN:
        pytest.fail(f"the chain failed earlier: {_CHAIN['error']}")
    if "done" not in _CHAIN:
        try:
            if read_table(cfg.table_path("silver", "test_results")) is None:
                land_world(cfg, spark)
            run(dagbag, "andon_quality_mart")
            run(dagbag, "andon_training", {"cutoff": END.isoformat()})
            run(dagbag, "andon_scoring", {"start": START.isoformat(), "end": END.isoformat(), "models": "champion"})
            from reporting.smtp_sink import start_server

            sink = cfg.raw["mail"]["sink"]
            server = start_server(sink["host"], int(sink["port"]), sink["outbox"])
            try:
                run(dagbag, "andon_digest", {"day": END.isoformat()})
            finally:
                server.stop()
        except BaseException as exc:
            _CHAIN["error"] = repr(exc)
            raise
        _CHAIN["done"] = True
    return True


def test_mart_tables_are_populated(chain, cfg):
    from spark_jobs.mart.runner import GOLD_MARTS, SIGNAL_ONLY_MARTS

    for mart in GOLD_MARTS:
        df = read_table(cfg.table_path("gold", mart))
        assert df is not None, f"gold.{mart} was not built"
        assert len(df) > 0 or mart in SIGNAL_ONLY_MARTS, f"gold.{mart} is empty"


def test_three_champions_with_threshold_and_cutoff(chain, cfg):
    from mlflow.tracking import MlflowClient

    from ml.jobs import SCOPES, mlflow_uris

    tracking, registry, _ = mlflow_uris(cfg)
    client = MlflowClient(tracking_uri=tracking, registry_uri=registry)
    for scope in SCOPES:
        mv = client.get_model_version_by_alias(f"andon_{scope}", "champion")
        assert 0.0 <= float(mv.tags["threshold"]) <= 1.0 + 1e-9
        assert mv.tags["training_cutoff"] == END.isoformat()
        run = client.get_run(mv.run_id)
        assert "valid_rows" in run.data.metrics and "threshold" in run.data.metrics
        assert run.data.params["scope"] == scope


def test_scores_match_the_contract(chain, cfg, spark):
    from ml import rules
    from ml.jobs import SCOPES, SCORES_SCHEMA

    df = spark.read.format("delta").load(cfg.table_path("gold", "early_warning_scores"))
    assert [(f.name, f.dataType) for f in df.schema.fields] == [(f.name, f.dataType) for f in SCORES_SCHEMA.fields]
    assert spark.table("gold.early_warning_scores").count() == df.count()  # registered in the metastore
    pdf = read_table(cfg.table_path("gold", "early_warning_scores"))
    assert set(pdf["scope"]) == set(SCOPES)
    assert (pdf["is_warning"] == (pdf["score"] >= pdf["threshold"])).all()
    assert not pdf.duplicated(["scope", "entity_id", "score_date"]).any()
    assert pdf["score_date"].min().isoformat() >= START.isoformat()
    assert pdf["score_date"].max().isoformat() <= END.isoformat()
    for scope in SCOPES:
        s = pdf[pdf["scope"] == scope]
        by_model = s["model_name"].eq(f"andon_{scope}")
        assert by_model.any()
        assert s.loc[by_model, "model_version"].str.fullmatch(r"\d+").all()
        assert s.loc[by_model, "score"].between(0, 1).all()
        # the only other rows: where the scope's detector stands, its warnings on days the model was silent
        other = s[~by_model]
        if scope in rules.DETECTOR_STANDS:
            assert other["model_name"].eq(rules.rule_model_name(scope)).all() and other["is_warning"].all()
            assert other["model_version"].eq(rules.RULES_VERSION).all()
        else:
            assert other.empty


def test_every_warning_has_five_factors(chain, cfg):
    from ml import rules
    from ml.features import FEATURES

    pdf = read_table(cfg.table_path("gold", "early_warning_scores"))
    warnings = pdf[pdf["is_warning"]]
    assert len(warnings) > 0, "no warning at all on the tiny world: the test would prove nothing"
    for _, row in warnings.iterrows():
        factors = list(row["top_factors"])
        if row["model_name"].startswith("rule:"):  # a standing detector's warning: the rule and what it read
            assert factors[0]["feature"] == "rule" and factors[0]["value"] == rules.DETECTOR_RULES[row["scope"]]
            assert {f["feature"] for f in factors[1:]} <= set(rules.DETECTOR_INPUTS[row["scope"]])
            continue
        assert len(factors) == 5
        assert all(f["feature"] in FEATURES[row["scope"]] for f in factors)
        contributions = [abs(f["contribution"]) for f in factors]
        assert contributions == sorted(contributions, reverse=True)
    # explanations are computed for warnings only (scoring cost); a quiet row carries none
    assert pdf.loc[~pdf["is_warning"], "top_factors"].map(len).eq(0).all()


def test_digest_is_written(chain, cfg):
    digests = sorted(Path(cfg.raw["paths"]["digests"]).glob("digest-*.html"))
    assert digests, "no digest written"
    page = digests[-1].read_text()
    assert "data:image/png;base64," in page and "New warnings" in page and "Capability grades" in page
    # ... and mailed, once, to the SMTP sink the chain ran (a real aiosmtpd server)
    from email import message_from_bytes
    from email import policy as email_policy

    (eml,) = Path(cfg.raw["mail"]["sink"]["outbox"]).glob("*.eml")
    msg = message_from_bytes(eml.read_bytes(), policy=email_policy.default)
    week = digests[-1].stem.removeprefix("digest-")
    assert re.match(rf"Andon {week}( \(partial, \d days?\))?: \d+ new warnings? ", msg["Subject"]), msg["Subject"]
    assert "cid:chart-1@andon" in msg.get_body(preferencelist=("html",)).get_content()


def test_evaluation_report(chain, cfg):
    from ml.evaluate import WEEKLY_TABLE, evaluate_lakehouse, report_kind_table, report_table

    report = evaluate_lakehouse(cfg)
    assert set(report["scopes"]) <= {"incoming_material", "factory_output", "field_return"}
    for r in report["scopes"].values():
        for method in r["methods"]:
            m = r[method]
            assert m["monitored_entity_weeks"] > 0
            assert m["incidents"] == 0 or 0.0 <= m["recall_ci"][0] <= m["recall"] <= m["recall_ci"][1] <= 1.0
            assert math.isnan(m["false_alarms_per_100_entity_weeks"]) or m["false_alarms_per_100_entity_weeks"] >= 0
            for b, at in m["at_budget"].items():
                assert at["false_alarms_per_100_entity_weeks"] <= float(b) + 1e-9
    saved = json.loads(Path(report["paths"]["json"]).read_text())
    assert saved["scopes"].keys() == report["scopes"].keys()
    assert "| scope | method |" in report_table(report) and "| scope | kind |" in report_kind_table(report)
    # the weekly FPR/FNR series is a gold Delta table, one row per scope, method and scored week
    weekly = read_table(cfg.table_path("gold", WEEKLY_TABLE))
    assert weekly is not None and len(weekly) == report["warning_quality_weekly"]["rows"] > 0
    assert set(weekly["scope"]) == set(report["scopes"])
    assert DAYS > 0


def _rma_personal_values(landing: Path) -> set[str]:
    """Every customer name, e-mail and phone in the simulated RMA exports (the landing zone's PII)."""
    values: set[str] = set()
    for path in landing.glob("field_returns/*/rma_export_*.json"):
        text = path.read_bytes().decode("utf-8", "replace")
        try:
            claims = json.loads(text).get("claims") or []
        except (ValueError, AttributeError):         # an injected broken export: take what the text shows
            values.update(re.findall(r'"(?:name|email|phone)": "([^"]{6,})"', text))
            continue
        for claim in claims:
            customer = claim.get("customer") or {} if isinstance(claim, dict) else {}
            values.update(str(customer[k]) for k in ("name", "email", "phone") if customer.get(k))
    return values


def test_pii_sweep_no_clear_personal_value_in_mlflow_airflow_or_any_store(chain, cfg):
    """Issue 14, class 4: after landing, the mart, training, scoring and the digest of the test world, no
    customer name, e-mail or phone from its RMA files is in MLflow (tracking DB: params, tags, metrics;
    artifact store), Airflow's home (task logs, the metadata DB with XCom and rendered fields), the
    lakehouse (Parquet decoded, Delta logs), the digests, the outbox or the reports."""
    from tests.integration.test_fault_injection import file_text

    values = _rma_personal_values(Path(cfg.landing_root))
    assert len(values) >= 10, values
    home = Path(cfg.raw["paths"]["lakehouse"]).parent
    mlflow_db = Path(cfg.raw["mlflow"]["tracking_uri"].removeprefix("sqlite:///"))
    artifacts = Path(cfg.raw["mlflow"]["artifact_location"])
    stores = [mlflow_db, artifacts, Path(cfg.raw["airflow"]["home"]), Path(cfg.raw["paths"]["lakehouse"]),
              Path(cfg.raw["paths"]["digests"]), Path(cfg.raw["mail"]["sink"]["outbox"]),
              Path(cfg.raw["paths"]["reports"])]
    assert mlflow_db.is_file() and any(artifacts.rglob("*")), "the chain left no MLflow run to sweep"
    pattern = re.compile(b"|".join(re.escape(v.encode()) for v in sorted(values, key=len, reverse=True)))
    lowered = re.compile(b"|".join(re.escape(v.lower().encode()) for v in values))
    hits, swept = [], 0
    for store in stores:
        for path in [store] if store.is_file() else store.rglob("*"):
            if path.is_file():
                swept += 1
                content = file_text(path)
                found = pattern.search(content) or lowered.search(content)
                if found:
                    hits.append(f"{path.relative_to(home)}: {found.group().decode(errors='replace')}")
    assert swept > 50 and hits == [], hits[:20]
