"""What an incremental mart build must recompute: the scope of a change of silver.

The mart's incremental models (docs/mart.md, "Incremental builds") recompute only the business
days, weeks and supplier lots that a change of the silver tables can have touched since the last
successful build. The runner keeps, per silver table, the Delta version that build read
(``$ANDON_HOME/dbt/incremental_state.json``); this module compares that version with the current
one and derives the scope.

Silver keeps one row per primary key *and landing day*, and staging keeps the latest landing day
of every key (dbt/macros/latest_per_key.sql). So a change is described by the landing-day
partitions whose files differ between the two versions, and it can move a key's staging row from
one business day to another (a correction re-delivered later, a re-delivered day that drops a
record an older day also holds). The scope therefore collects, for every *touched* key (a key
with a row in a changed partition, before or after), the business attributes of every version of
that key in either snapshot, then widens them the way the models aggregate:

* ``station_days``: ``int_unit_first_attempts`` ranks a unit's attempts, so a touched test
  result touches its unit; the scope is every test day of every version of every row of the
  touched units (old and new), i.e. the days a first attempt of those units could be on;
* ``route_weeks``: the ISO weeks of ``station_days`` (``fct_route_rolled_yield`` sums them);
* ``capability_weeks``: ISO weeks of the touched SPC measurements (a week is one computation:
  subgroups, moving ranges, control limits);
* ``supplier_lots``: lots of touched supplier lot tests and IQC test rows, plus every lot of
  any version of a genealogy row of a unit whose genealogy, route outcome or field return was
  touched (``fct_supplier_lot_quality`` counts a lot's units, their first-attempt failures and
  returns).

Reading the old version relies on Delta time travel on silver. When it is not possible (no
previous build, the version's log or files were cleaned up, silver not partitioned by
``landing_date``), :func:`incremental_scope` returns ``None`` and the runner rebuilds in full.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The silver tables the incremental models read, with the columns the scope needs.
SCOPE_COLUMNS: dict[str, list[str]] = {
    "test_results": ["test_result_id", "serial_number", "supplier_lot_id", "tested_at"],
    "unit_genealogy": ["serial_number", "part_id", "supplier_lot_id"],
    "spc_measurements": ["measurement_id", "measured_at"],
    "supplier_lot_tests": ["supplier_lot_id", "characteristic_id"],
    "field_returns": ["rma_id", "serial_number"],
}
SCOPES = ("station_days", "route_weeks", "capability_weeks", "supplier_lots")


def week_start(day: date) -> date:
    """Monday of the ISO week of ``day`` (what dbt's iso_week_start gives; pure)."""
    return day - timedelta(days=day.weekday())


def project_fingerprint(project_dir: Path) -> str:
    """Hash of every model, macro, test and the project file: code changes force a full refresh."""
    digest = hashlib.sha256()
    files = [project_dir / "dbt_project.yml"]
    for folder in ("models", "macros", "tests"):
        files += sorted(p for p in (project_dir / folder).rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(project_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def partition_files(path: str, version: int | None = None) -> dict[str, frozenset[str]] | None:
    """Data files per ``landing_date`` partition of the Delta table at ``path`` (delta-rs, no JVM).

    ``{}`` when no table is there; ``None`` when the version cannot be read or the table is not
    partitioned by ``landing_date``.
    """
    import pyarrow as pa
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(path, version=version)
    except TableNotFoundError:
        return {} if version is None else None
    except Exception as error:  # noqa: BLE001 - any unreadable version means "rebuild in full"
        log.warning("cannot read %s at version %s: %s", path, version, error)
        return None
    if "landing_date" not in table.metadata().partition_columns:
        return None
    actions = pa.table(table.get_add_actions(flatten=True))
    files: dict[str, set[str]] = {}
    for rel_path, day in zip(actions.column("path").to_pylist(),
                             actions.column("partition.landing_date").to_pylist(), strict=True):
        files.setdefault(str(day), set()).add(rel_path)
    return {day: frozenset(paths) for day, paths in files.items()}


def changed_partitions(old: dict[str, frozenset[str]], new: dict[str, frozenset[str]]) -> list[str]:
    """Landing days whose data files differ between two snapshots (pure)."""
    return sorted(day for day in set(old) | set(new) if old.get(day) != new.get(day))


def table_version(path: str) -> int | None:
    """Current Delta version of the table at ``path`` (``None`` when there is none)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(path).version()
    except TableNotFoundError:
        return None


def _snapshot(spark, path: str, version: int | None, columns: list[str], days: list[str] | None):
    """Rows of one version of a silver table (only ``days``' partitions when given), or None."""
    from pyspark.sql import functions as F

    if version is None:
        return None
    reader = spark.read.format("delta").option("versionAsOf", version).load(path)
    frame = reader.select("landing_date", *columns)
    if days is not None:
        frame = frame.where(F.col("landing_date").isin([date.fromisoformat(d) for d in days]))
    return frame


def _versions_of_touched_keys(spark, path: str, old_version: int | None, new_version: int | None,
                              changed: list[str], key: list[str], columns: list[str]):
    """Every row (old changed partitions + the whole new snapshot) of every touched key."""
    old = _snapshot(spark, path, old_version, columns, changed)
    new = _snapshot(spark, path, new_version, columns, None)
    frames = [f for f in (old, new) if f is not None]
    if not frames:
        return None
    versions = frames[0] if len(frames) == 1 else frames[0].unionByName(frames[1])
    from pyspark.sql import functions as F

    touched = versions.where(F.col("landing_date").isin([date.fromisoformat(d) for d in changed])) \
        .select(*key).distinct()
    return versions.join(touched, key, "left_semi"), versions


def _distinct(frame, column: str) -> set[Any]:
    return {r[0] for r in frame.select(column).where(f"{column} is not null").distinct().collect()}


def incremental_scope(spark, cfg, previous: dict[str, int | None],
                      current: dict[str, int | None], keys: dict[str, list[str]]) -> dict[str, list[str]] | None:
    """The ``mart_scope`` var for a build after silver went from ``previous`` to ``current``.

    ``previous`` / ``current``: Delta version per silver table (``None`` = no table);
    ``keys``: primary key per silver table (the data dictionary). ``None`` = rebuild in full.
    """
    from pyspark.sql import functions as F

    touched: dict[str, Any] = {}
    all_versions: dict[str, Any] = {}
    for table, columns in SCOPE_COLUMNS.items():
        path = cfg.table_path("silver", table)
        old_version, new_version = previous.get(table), current.get(table)
        if old_version == new_version:
            continue
        old_files = partition_files(path, old_version) if old_version is not None else {}
        new_files = partition_files(path, new_version) if new_version is not None else {}
        if old_files is None or new_files is None:
            return None
        changed = changed_partitions(old_files, new_files)
        if not changed:
            continue
        log.info("silver.%s: %d changed landing day(s) since version %s: %s",
                 table, len(changed), old_version, ", ".join(changed[:10]) + (" ..." if len(changed) > 10 else ""))
        try:
            result = _versions_of_touched_keys(spark, path, old_version, new_version, changed,
                                               keys[table], columns)
        except Exception as error:  # noqa: BLE001 - time travel impossible: rebuild in full
            log.warning("cannot compare silver.%s with version %s: %s", table, old_version, error)
            return None
        if result is not None:
            touched[table], all_versions[table] = result

    scope: dict[str, set[Any]] = {name: set() for name in SCOPES}
    unit_serials = []  # frames of serial_number: units whose route outcome, genealogy or return changed
    if "test_results" in touched:
        rows = touched["test_results"]
        scope["supplier_lots"] |= _distinct(rows, "supplier_lot_id")
        test_serials = rows.select("serial_number").distinct()
        unit_rows = all_versions["test_results"].join(test_serials, "serial_number", "left_semi")
        scope["station_days"] |= _distinct(unit_rows.select(F.to_date("tested_at").alias("day")), "day")
        unit_serials.append(test_serials)
    if "spc_measurements" in touched:
        measured = touched["spc_measurements"].select(F.to_date("measured_at").alias("day"))
        scope["capability_weeks"] |= {week_start(d) for d in _distinct(measured, "day")}
    if "supplier_lot_tests" in touched:
        scope["supplier_lots"] |= _distinct(touched["supplier_lot_tests"], "supplier_lot_id")
    for table in ("unit_genealogy", "field_returns"):
        if table in touched:
            unit_serials.append(touched[table].select("serial_number").distinct())
    if unit_serials:
        genealogy = all_versions.get("unit_genealogy")
        if genealogy is None:  # genealogy unchanged: its current rows are all its versions
            genealogy = _snapshot(spark, cfg.table_path("silver", "unit_genealogy"),
                                  current.get("unit_genealogy"), SCOPE_COLUMNS["unit_genealogy"], None)
        if genealogy is not None:
            serials = unit_serials[0]
            for more in unit_serials[1:]:
                serials = serials.unionByName(more)
            built = genealogy.join(serials.distinct(), "serial_number", "left_semi")
            scope["supplier_lots"] |= _distinct(built, "supplier_lot_id")
    scope["route_weeks"] = {week_start(d) for d in scope["station_days"]}
    return {name: sorted(str(v) for v in values) for name, values in scope.items()}


def describe(scope: dict[str, list[str]] | None) -> str:
    """One line for the log (pure)."""
    if scope is None:
        return "full refresh"
    return ", ".join(f"{name}: {len(values)}" for name, values in scope.items())


