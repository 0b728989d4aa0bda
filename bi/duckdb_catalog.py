"""Build the DuckDB catalog Superset reads: one view per gold Delta table, no copy of the data.

This file runs in *Superset's* virtualenv (it has duckdb 1.5.5 and the Delta extension), as a
script: ``<superset venv>/bin/python bi/duckdb_catalog.py SPEC.json``. It imports nothing of the
project. ``bi.catalog`` writes the spec (views, small lookup tables, paths) in the project's venv.

A view ``select * from delta_scan('<table>')`` reads the latest Delta version at query time, so
the catalog only needs rebuilding when a table is added. Superset holds the catalog open
read-only, and DuckDB admits no writer next to it: the catalog is built in a new file and swapped
in with ``os.replace`` (atomic; a running query keeps the old file's inode).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def delta_extension_file() -> Path:
    """The Delta extension shipped inside the ``duckdb-extension-delta`` wheel."""
    import duckdb
    import duckdb_extension_delta

    root = Path(duckdb_extension_delta.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    found = sorted(root.glob("delta.duckdb_extension"))
    if not found:
        raise FileNotFoundError(f"no Delta extension for duckdb {duckdb.__version__} under {root}")
    return found[0]


def connect(path: str | Path, extension_dir: str | Path, read_only: bool = False):
    import duckdb

    config = {"extension_directory": str(extension_dir), "autoinstall_known_extensions": False,
              "autoload_known_extensions": True}
    return duckdb.connect(str(path), read_only=read_only, config=config)


def install_extension(extension_dir: str | Path) -> Path:
    """Install the wheel's Delta extension into ``extension_dir`` once (no download)."""
    extension_dir = Path(extension_dir)
    extension_dir.mkdir(parents=True, exist_ok=True)
    con = connect(":memory:", extension_dir)
    try:
        installed = con.execute(
            "select installed from duckdb_extensions() where extension_name = 'delta'").fetchone()
        if not (installed and installed[0]):
            con.execute(f"INSTALL '{delta_extension_file()}'")
        con.execute("LOAD delta")
    finally:
        con.close()
    return extension_dir


def build_catalog(target: str | Path, extension_dir: str | Path, views: dict[str, str],
                  tables: dict[str, dict] | None = None) -> dict[str, int]:
    """Write ``target`` with ``tables`` ({name: {"columns": {col: type}, "rows": [[...]]}}) and
    ``views`` ({name: select sql}); return the row count of every view (each view is queried
    once, so a broken table fails the build, not a dashboard)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    con = connect(tmp, extension_dir)
    try:
        for name, spec in (tables or {}).items():
            cols = ", ".join(f'"{c}" {t}' for c, t in spec["columns"].items())
            con.execute(f'create table "{name}" ({cols})')
            if spec["rows"]:
                marks = ", ".join("?" for _ in spec["columns"])
                con.executemany(f'insert into "{name}" values ({marks})', spec["rows"])
        for name, sql in views.items():
            con.execute(f'create view "{name}" as {sql}')
            counts[name] = con.execute(f'select count(*) from "{name}"').fetchone()[0]
        con.execute("checkpoint")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    con.close()
    tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    os.replace(tmp, target)
    return counts


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    install_extension(spec["extension_dir"])
    counts = build_catalog(spec["catalog"], spec["extension_dir"], spec["views"], spec.get("tables"))
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
