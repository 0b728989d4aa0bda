"""The data boundary's local pieces (issue 14, class 4): the pseudonym key is created owner-only and
complete in one step, the process writes owner-only files, `make clean` keeps the key unless told,
and only the manufacturer's own purchase orders pass the supplier contract."""

from __future__ import annotations

import os
import stat
import subprocess
from multiprocessing import get_context
from pathlib import Path

import pytest

from andon.config import load_settings, restrict_umask

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def open_umask():
    """A permissive umask (as on a badly set-up host): modes must not depend on the caller's umask."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_key_is_owner_only_and_complete_before_it_has_its_name(tmp_path, monkeypatch, open_umask):
    from andon import secrets as module

    monkeypatch.delenv("ANDON_PSEUDONYM_KEY", raising=False)
    cfg = load_settings(environ={"ANDON_HOME": str(tmp_path), "ANDON__PATHS__SECRETS": str(tmp_path / "secrets")})
    seen = []
    real_link = os.link

    def link(src, dst):       # the moment the key gets its name: already 0600 and complete
        seen.append((stat.S_IMODE(os.stat(src).st_mode), Path(src).read_text()))
        return real_link(src, dst)

    monkeypatch.setattr(module.os, "link", link)
    key = module.pseudonym_key(cfg)
    path = tmp_path / "secrets" / "pseudonym.key"
    assert len(key) == 64 and seen == [(0o600, key.decode())]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert list(path.parent.iterdir()) == [path]                       # no temporary file left
    assert module.pseudonym_key(cfg) == key                            # created once, then read


def _create(args) -> tuple[bool, str]:
    from andon.secrets import create_key_file

    path, key = args
    created = create_key_file(Path(path), key)
    return created, Path(path).read_text()


def test_concurrent_key_creation_ends_with_one_key_everyone_reads(tmp_path):
    path = tmp_path / "secrets" / "pseudonym.key"
    with get_context("spawn").Pool(6) as pool:
        results = pool.map(_create, [(str(path), f"{i:064x}") for i in range(12)])
    assert sum(created for created, _ in results) == 1
    assert len({content for _, content in results}) == 1 and len(results[0][1]) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_process_writes_owner_only_and_spark_through_hadoop_too(tmp_path, open_umask):
    from andon.spark import spark_conf

    cfg = load_settings(environ={"ANDON_HOME": str(tmp_path)})
    assert restrict_umask(cfg) == 0o077
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "d" / "f").stat().st_mode) == 0o600
    assert spark_conf(cfg)["spark.hadoop.fs.permissions.umask-mode"] == "077"
    shared = load_settings(environ={"ANDON_HOME": str(tmp_path), "ANDON__SECURITY__UMASK": ""})
    assert restrict_umask(shared) is None and "spark.hadoop.fs.permissions.umask-mode" not in spark_conf(shared)


def _make_clean(home: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "-C", str(REPO), "clean", f"ANDON_HOME={home}", *extra],
                          capture_output=True, text=True, timeout=60)


def test_make_clean_refuses_to_delete_the_key_without_confirmation(tmp_path):
    home = tmp_path / "home"
    (home / "secrets").mkdir(parents=True)
    (home / "lakehouse" / "silver").mkdir(parents=True)
    (home / "mlflow.db").write_text("x")
    key = home / "secrets" / "pseudonym.key"
    key.write_text("k" * 64)
    done = _make_clean(home)
    assert done.returncode == 0, done.stderr
    assert key.read_text() == "k" * 64 and sorted(p.name for p in home.iterdir()) == ["secrets"]
    assert "refuses to delete it" in done.stdout and "make clean DELETE_KEY=yes" in done.stdout
    done = _make_clean(home, "DELETE_KEY=yes")
    assert done.returncode == 0 and not home.exists()
    assert "pseudonym key included" in done.stdout
    home.mkdir()                                                      # no key: plain removal, no message
    done = _make_clean(home)
    assert done.returncode == 0 and not home.exists() and done.stdout == ""


def test_only_the_manufacturers_own_purchase_orders_pass(spark, dictionary):
    from spark_jobs.landing.conform import conform
    from tests.unit.test_conform import bronze, rows_of

    feed = dictionary.feeds["supplier_lot_tests"]
    base = {"supplier_code": "SUP01", "lot_number": "L1", "part_number": "PCB-1", "po_number": "4500000001",
            "po_closed_date": "", "lot_qty": "1000", "ship_date": "2026-03-02", "parameter": "THICKNESS",
            "value": "1.60", "unit": "mm", "lsl": "1.40", "usl": "1.80"}
    rows = [base, {**base, "lot_number": "L2", "po_number": "7100000001"},      # another customer's order
            {**base, "lot_number": "L3", "po_number": "45000001"}]              # not one of our numbers
    got = rows_of(conform(bronze(spark, feed, rows), feed, dictionary), "supplier_lot_id", "_reason")
    assert got == [("L1", None), ("L2", "unknown_purchase_order"), ("L3", "unknown_purchase_order")]


def test_a_bad_value_domain_pattern_is_a_dictionary_error():
    import copy

    import yaml

    from andon.config import CONF_DIR
    from andon.dictionary import DictionaryError, parse_dictionary

    raw = yaml.safe_load((CONF_DIR / "data_dictionary.yaml").read_text())
    assert parse_dictionary(raw).elements["purchase_order_id"]["value_domain"]["reason"] == "unknown_purchase_order"
    bad = copy.deepcopy(raw)
    bad["data_elements"]["purchase_order_id"]["value_domain"] = {"pattern": "^45[0-9"}
    with pytest.raises(DictionaryError, match="purchase_order_id.*pattern"):
        parse_dictionary(bad)
