"""Dashboards as code: the YAML export bundle in ``infra/superset/bundle/``, zipped at import time.

The tree is what ``GET /api/v1/dashboard/export/`` gives (``metadata.yaml``, ``databases/``,
``datasets/<database>/``, ``charts/``, ``dashboards/``), kept unzipped for readable diffs. Nothing
machine-specific is committed: a value ``${NAME}`` in a file is replaced at zip time from
``params`` (the DuckDB catalog's URI is ``${ANDON_BI_CATALOG_URI}``), and a ``${...}`` left
unreplaced is an error.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import yaml

from andon.config import REPO_ROOT

BUNDLE_DIR = REPO_ROOT / "infra" / "superset" / "bundle"
ROOT_IN_ZIP = "andon_bundle"
_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def render(text: str, params: dict[str, str], where: str = "") -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in params:
            raise KeyError(f"{where}: no value for ${{{m.group(1)}}}")
        return params[m.group(1)]

    return _PLACEHOLDER.sub(sub, text)


def bundle_files(bundle_dir: Path = BUNDLE_DIR) -> list[Path]:
    return sorted(p for p in bundle_dir.rglob("*.yaml") if p.is_file())


#: Superset's importers, in import order: what each one overwrites, its metadata type and the
#: folders its zip needs. A dashboard import overwrites only the dashboards (charts, datasets
#: and the database are created when missing, never updated), so every level is imported
#: with overwrite=true in turn.
LEVELS = (
    ("database", "Database", ("databases",)),
    ("dataset", "SqlaTable", ("databases", "datasets")),
    ("chart", "Slice", ("databases", "datasets", "charts")),
    ("dashboard", "Dashboard", ("databases", "datasets", "charts", "dashboards")),
)


def zip_bundle(params: dict[str, str], bundle_dir: Path = BUNDLE_DIR, level: str = "dashboard") -> bytes:
    """The import zip of one level (see :data:`LEVELS`): its folders' YAML under ``andon_bundle/``,
    ``metadata.yaml`` with the level's type, placeholders filled in."""
    if not (bundle_dir / "metadata.yaml").exists():
        raise FileNotFoundError(f"{bundle_dir}/metadata.yaml is missing")
    kind, folders = next((t, f) for name, t, f in LEVELS if name == level)
    files = [p for p in bundle_files(bundle_dir) if p.relative_to(bundle_dir).parts[0] in folders]
    meta = yaml.safe_load((bundle_dir / "metadata.yaml").read_text(encoding="utf-8"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{ROOT_IN_ZIP}/metadata.yaml", yaml.safe_dump({**meta, "type": kind}, sort_keys=False))
        for path in files:
            rel = path.relative_to(bundle_dir).as_posix()
            text = render(path.read_text(encoding="utf-8"), params, rel)
            yaml.safe_load(text)  # a broken file fails here, with its name, not inside Superset
            zf.writestr(f"{ROOT_IN_ZIP}/{rel}", text)
    return buffer.getvalue()


def load(kind: str, bundle_dir: Path = BUNDLE_DIR) -> list[dict]:
    """The parsed YAML of one kind (``databases``, ``datasets``, ``charts``, ``dashboards``)."""
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in bundle_files(bundle_dir / kind)]
