"""A tiny, private landing world per test: hand-written source files, their own lakehouse.

The fault-injection suite (``tests/integration/test_fault_injection.py``) writes a few records
per file, lands them with the real job (real Spark, real Delta, the session's one JVM) into a
lakehouse under the test's ``tmp_path`` and checks the books: every file accounted for, every
record in bronze, bronze = silver + quarantine + replays. The tables of these worlds are not
registered in the shared metastore (they would shadow the shared world's tables).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pyspark.sql import functions as F

MES_HEADER = ("LOG_ID,SERIAL_NO,WO_NO,PLANT,LINE,STATION,STN_TYPE,PART_NO,LOT_NO,ATTEMPT,RESULT,FAIL_CODE,"
              "TEST_TIME,DISPOSITION,LOSS_COST")
SUPPLIER_HEADER = ("supplier_code;lot_number;part_number;po_number;po_closed_date;lot_qty;ship_date;parameter;"
                   "value;unit;lsl;usl")


def mes_row(log_id: int, day: date, serial: str | None = None, result: str = "PASS", cost: str = "") -> str:
    return (f"{log_id},{serial or f's{log_id}'},w1,BRQ,BRQ-L1,BRQ-L1-FT,FT,AX100,,1,{result},,"
            f"{day.isoformat()} 09:00:00,,{cost}")


def mes_file(rows: list[str], header: str = MES_HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def supplier_row(lot: str, day: date, po: str = "4500000001", closed: str = "", param: str = "THICKNESS",
                 value: str = "1.60") -> str:
    return f"SUP01;{lot};PCB-1;{po};{closed};1000;{day.isoformat()};{param};{value};mm;1.40;1.80"


def supplier_file(rows: list[str]) -> bytes:
    return ("\n".join([SUPPLIER_HEADER, *rows]) + "\n").encode("utf-8")


def claim(n: int, day: date, name: str = "Ann Example", email: str | None = None, phone: str = "+1 555 0100",
          **override) -> dict:
    record = {
        "rma_no": f"RMA-{n:06d}", "received_at": f"{day.isoformat()}T10:00:00Z",
        "customer": {"name": name, "email": email or f"customer{n}@example.com", "phone": phone,
                     "region": "EMEA"},
        "unit": {"serial": f"s{n}", "model": "AX100", "ship_date": "2026-01-10"},
        "failure": {"date": day.isoformat(), "symptom": "NO_POWER", "mode_code": "FM-PWR", "doa": False},
        "environment": {"ambient_temp_c": 24.5, "humidity_pct": 40.0, "usage": "OFFICE"},
        "claim": {"type": "WARRANTY", "cost": "215.00 USD"},
    }
    for dotted, value in override.items():
        node = record
        *parents, last = dotted.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return record


def claims_file(claims: list[dict], day: date) -> bytes:
    return json.dumps({"export_date": day.isoformat(), "claims": claims}).encode("utf-8")


@dataclass
class TinyWorld:
    cfg: object
    spark: object
    root: Path

    @property
    def landing(self) -> Path:
        return Path(self.cfg.landing_root)

    def put(self, source: str, day: date, name: str, content: bytes) -> Path:
        folder = self.landing / source / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(content)
        return path

    def land(self, source: str, days: list[date], run_id: str = "tiny", force: bool = False):
        from spark_jobs.landing.job import land_source

        return land_source(source, days, run_id, force=force, cfg=self.cfg, spark=self.spark)

    def table(self, layer: str, name: str):
        from andon.delta import table_exists

        path = self.cfg.table_path(layer, name)
        if not table_exists(self.spark, path):
            return None
        return self.spark.read.format("delta").load(path)

    def rows(self, layer: str, name: str, where=None) -> list[dict]:
        df = self.table(layer, name)
        if df is None:
            return []
        if where is not None:
            df = df.where(where)
        return [r.asDict() for r in df.collect()]

    def count(self, layer: str, name: str, where=None) -> int:
        return len(self.rows(layer, name, where))

    def ledger(self, feed_or_source: str | None = None) -> dict[str, dict]:
        rows = self.rows("ops", "landed_files")
        return {r["file"]: r for r in rows
                if feed_or_source is None or feed_or_source in (r["feed"], r["source"])}

    def dq(self, feed: str) -> dict[date, dict]:
        return {r["landing_date"]: r for r in self.rows("ops", "dq_results", F.col("feed") == feed)}

    def quarantine(self, feed: str) -> list[dict]:
        return self.rows("bronze", "quarantine", F.col("feed") == feed)

    def assert_books_balance(self, feed: str, silver_table: str) -> None:
        """Nothing lost: per day, bronze = silver + quarantine + collapsed replays (as DQ reports them),
        and the tables hold exactly what DQ says."""
        for day, dq in self.dq(feed).items():
            if dq["status"] in ("no_data", "failed_gate"):
                continue
            bronze = self.count("bronze", feed, F.col("landing_date") == day)
            silver = self.count("silver", silver_table, F.col("landing_date") == day)
            quarantined = len([q for q in self.quarantine(feed) if q["landing_date"] == day])
            assert bronze == dq["bronze_rows"], (day, bronze, dq)
            assert silver == dq["silver_rows"], (day, silver, dq)
            assert quarantined == dq["quarantined_rows"], (day, quarantined, dq)
            assert bronze == silver + quarantined + dq["collapsed_replays"], (day, dq)


def tiny_world(tmp_path: Path, spark, monkeypatch) -> TinyWorld:
    from andon import delta
    from andon.config import load_settings

    env = {**os.environ, "ANDON__PATHS__LANDING": str(tmp_path / "landing"),
           "ANDON__PATHS__LAKEHOUSE": str(tmp_path / "lakehouse"),
           "ANDON__PATHS__RUN": str(tmp_path / "run")}
    cfg = load_settings(environ=env)
    monkeypatch.setattr(delta, "register_table", lambda spark, cfg, layer, table: f"{layer}.{table}")
    return TinyWorld(cfg, spark, tmp_path)


def release_world(spark) -> None:
    """After a tiny world's test: drop what the session's one JVM still holds for it. Delta keeps every
    table's log and snapshot it has opened (dozens per world) and Spark any cached frame of a failed
    run; over twenty worlds that filled the test driver's heap and later tests ran out of memory."""
    spark.catalog.clearCache()
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
