"""Pure pieces of the landing hardening (issue 14): file-name dates, schema drift, decoding, the lock."""

from __future__ import annotations

import copy
from datetime import date

import pytest
import yaml

from andon.config import CONF_DIR, load_settings
from andon.dictionary import DictionaryError, parse_dictionary
from andon.spark import embedded_metastore
from spark_jobs.landing.dq import schema_drift
from spark_jobs.landing.ledger import LandingFile, date_mismatch, name_date, outcome_of
from spark_jobs.landing.parsers import MALFORMED, UNDECODABLE, decode, parse_file


def test_name_dates():
    assert name_date("MES_TESTLOG_BRQ_20260302.csv") == date(2026, 3, 2)
    assert name_date("CSDX_SUP11_20260303_resend.csv") == date(2026, 3, 3)
    assert name_date("rma_export_2026-03-02.json") == date(2026, 3, 2)
    assert name_date("LIMS_EXPORT.xml") is None
    assert name_date("lot_4534391064.csv") is None                     # a long number is not a date
    assert name_date("x_20261399_20260302.csv") == date(2026, 3, 2)   # an impossible date is skipped


def _file(name: str, day: date, size: int = 10) -> LandingFile:
    return LandingFile(f"mes/{day.isoformat()}/{name}", day, "0" * 64, "/x", size)


def test_outcomes_of_feed_files():
    day = date(2026, 3, 3)
    assert outcome_of(_file("MES_TESTLOG_BRQ_20260303.csv", day)) == ("landed", None)
    assert outcome_of(_file("MES_TESTLOG_BRQ_20260303.csv", day, size=0))[0] == "empty_file"
    outcome, detail = outcome_of(_file("MES_TESTLOG_BRQ_20260302.csv", day))
    assert outcome == "name_date_mismatch" and "2026-03-02" in detail and "2026-03-03" in detail
    assert date_mismatch(_file("MES_TESTLOG.csv", day)) is None


def test_schema_drift_names_missing_and_unknown_fields():
    assert schema_drift("f", ["LOG_ID", "PLANT"], 3, [3, 3], set()) is None
    renamed = schema_drift("f", ["LOG_ID", "PLANT"], 3, [0, 3], {"LOGID"})
    assert renamed["missing"] == ["LOG_ID"] and renamed["extra"] == ["LOGID"]
    assert renamed["message"] == "schema drift in f: required field(s) LOG_ID missing; unknown field(s) LOGID"
    added = schema_drift("f", ["LOG_ID"], 2, [2], {"OPERATOR_ID"})
    assert added["missing"] == []
    assert schema_drift("f", ["LOG_ID"], 0, [0], set()) is None         # nothing parsed: not drift


def test_decoding_strips_boms_and_keeps_bad_bytes_findable():
    assert decode(b"\xef\xbb\xbfA,B") == "A,B"
    assert decode("é".encode("latin-1"), "latin-1") == "é"
    records = list(parse_file("jsonl", b'{"a": "ok"}\n{"a": "caf\xe9"}\n'))
    assert [(r.locator, r.parse_error) for r in records] == [("line:1", None), ("line:2", UNDECODABLE)]
    assert records[1].raw == '{"a": "caf\\xe9"}'


def test_any_parser_exception_quarantines_the_rest_of_the_file():
    deep = b'{"claims": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    records = list(parse_file("json", deep, record_path="claims"))
    assert [(r.locator, r.parse_error) for r in records] == [("*", MALFORMED)]
    assert "RecursionError" in records[0].parse_detail


def test_every_feed_declares_an_encoding():
    raw = yaml.safe_load((CONF_DIR / "data_dictionary.yaml").read_text())
    assert all(feed["encoding"] == "utf-8" for feed in raw["feeds"].values())
    bad = copy.deepcopy(raw)
    del bad["feeds"]["mes_testlog"]["encoding"]
    with pytest.raises(DictionaryError, match="mes_testlog: declare the files' encoding"):
        parse_dictionary(bad)
    bad["feeds"]["mes_testlog"]["encoding"] = "no-such-codec"
    with pytest.raises(DictionaryError, match="no-such-codec"):
        parse_dictionary(bad)


def test_plausible_ranges_are_numbers():
    raw = yaml.safe_load((CONF_DIR / "data_dictionary.yaml").read_text())
    dd = parse_dictionary(raw)
    assert dd.plausible_time == {"earliest": "1990-01-01", "latest_days_after_landing": 2}
    assert dd.elements["humidity_pct"]["value_domain"] == {"min": 0, "max": 100}
    bad = copy.deepcopy(raw)
    bad["data_elements"]["humidity_pct"]["value_domain"] = {"min": "zero"}
    with pytest.raises(DictionaryError, match="humidity_pct.*must be a number"):
        parse_dictionary(bad)


def test_only_the_embedded_metastore_is_locked():
    assert embedded_metastore(load_settings("local"))
    assert not embedded_metastore(load_settings("cluster"))


def test_timestamps_are_written_as_int64():
    from andon.spark import spark_conf

    assert spark_conf(load_settings("local"))["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"


def test_the_local_pseudonym_key_is_private_from_its_creation(tmp_path, monkeypatch):
    import stat

    from andon.secrets import pseudonym_key

    monkeypatch.delenv("ANDON_PSEUDONYM_KEY", raising=False)
    cfg = load_settings(environ={"ANDON_HOME": str(tmp_path), "ANDON__PATHS__SECRETS": str(tmp_path / "secrets")})
    key = pseudonym_key(cfg)
    assert len(key) == 64 and pseudonym_key(cfg) == key
    assert stat.S_IMODE((tmp_path / "secrets" / "pseudonym.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700


def test_run_dag_keeps_earlier_logs_and_airflow_runs(tmp_path):
    """infra/run_dag.sh with a stand-in airflow: an earlier log is kept, a day gets the time of day."""
    import os
    import subprocess
    from pathlib import Path

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "airflow"
    fake.write_text('#!/usr/bin/env bash\necho "args: $*"\necho "creating dag run x run_id=manual__1"\n'
                    'echo "DagRun Finished: dag_id=andon_landing, state=success"\n')
    (bin_dir / "python").write_text("#!/usr/bin/env bash\nexit 0\n")
    for script in bin_dir.iterdir():
        script.chmod(0o755)
    log = tmp_path / "land-2026-03-02.log"
    log.write_text("the first run's log\n")
    script = Path(__file__).resolve().parents[2] / "infra" / "run_dag.sh"
    done = subprocess.run(["bash", str(script), "andon_landing", str(log), "{}", "2026-03-02"], capture_output=True,
                          text=True, env={**os.environ, "AIRFLOW": str(fake)}, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    kept = list(tmp_path.glob("land-2026-03-02.*.log"))
    assert len(kept) == 1 and kept[0].read_text() == "the first run's log\n"
    import re

    assert re.search(r"args: dags test andon_landing 2026-03-02T\d\d:\d\d:\d\d\+00:00 -c \{\}", log.read_text())
