"""Bring the analysts' Superset up and provision it from the repository.

``up``: install (once) -> metadata (once) -> DuckDB catalog over the gold tables (every time) ->
gunicorn -> import the bundle (overwrite) -> roles, demo users and row-level security.
"""

from __future__ import annotations

from typing import Any

from andon.config import Settings
from bi import bundle, catalog, server
from bi.client import Superset

DEMO_PASSWORD_NOTE = "see docs/bi.md"


def refresh_catalog(cfg: Settings, paths: server.BiPaths) -> dict[str, int]:
    return catalog.write_catalog(cfg, paths.python, paths.catalog, paths.extension_dir)


def bundle_params(paths: server.BiPaths) -> dict[str, str]:
    return {"ANDON_BI_CATALOG_URI": catalog.catalog_uri(paths.catalog, paths.extension_dir)}


def admin_client(url: str) -> Superset:
    return Superset(url).login(server.ADMIN_USER, server.admin_password())


def import_bundle(client: Superset, paths: server.BiPaths) -> None:
    """Import the repository's bundle level by level, each overwriting what exists (idempotent)."""
    params = bundle_params(paths)
    for level, _, _ in bundle.LEVELS:
        client.import_bundle(level, bundle.zip_bundle(params, level=level))


def up(cfg: Settings, paths: server.BiPaths, port: int = server.DEFAULT_PORT, log=print) -> tuple[str, dict[str, Any]]:
    paths.home.mkdir(parents=True, exist_ok=True)
    server.install(paths, log=log)
    server.init_metadata(paths, log=log)
    log("==> DuckDB catalog over the gold Delta tables")
    counts = refresh_catalog(cfg, paths)
    url = server.start(paths, port=port, log=log)
    client = admin_client(url)
    dashboards: list[str] = []
    if bundle.bundle_files(bundle.BUNDLE_DIR / "dashboards"):
        log("==> importing the dashboards bundle (overwrite)")
        import_bundle(client, paths)
        dashboards = [d["dashboard_title"] for d in bundle.load("dashboards")]
    return url, {"views": len(counts), "dashboards": dashboards}
