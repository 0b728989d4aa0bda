"""Bring the analysts' Superset up and provision it from the repository.

``up``: install (once) -> metadata (once) -> DuckDB catalog over the gold tables (every time) ->
gunicorn -> import the bundle (overwrite) -> roles, demo users and row-level security.
"""

from __future__ import annotations

from typing import Any

from andon.config import Settings
from bi import bundle, catalog, server
from bi.client import Superset


def refresh_catalog(cfg: Settings, paths: server.BiPaths) -> dict[str, int]:
    return catalog.write_catalog(cfg, paths.python, paths.catalog, paths.extension_dir)


def bundle_params(paths: server.BiPaths) -> dict[str, str]:
    return {"ANDON_BI_CATALOG_URI": catalog.catalog_uri(paths.catalog, paths.extension_dir)}


def admin_client(url: str) -> Superset:
    return Superset(url).login(server.ADMIN_USER, server.admin_password())


def import_bundle(client: Superset, paths: server.BiPaths) -> None:
    """Import the repository's bundle level by level, each overwriting what exists (idempotent).

    Charts are imported once the datasets exist, with a query context generated for this
    Superset's dataset ids (``bundle.query_context``): every chart's data API works without
    opening and saving the chart in the UI first."""
    params = bundle_params(paths)
    dataset_ids: dict[str, int] | None = None
    for level, _, folders in bundle.LEVELS:
        if "charts" in folders and dataset_ids is None:
            dataset_ids = {d["table_name"]: d["id"] for d in client.list_all("dataset", columns=["id", "table_name"])}
        client.import_bundle(level, bundle.zip_bundle(params, level=level, dataset_ids=dataset_ids))


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
    log("==> roles analyst, leadership, supplier_<ID> and row-level security")
    access = provision_access(client, supplier_ids(cfg))
    return url, {"views": len(counts), "dashboards": dashboards, **access}


# --------------------------------------------------------------------------- roles and RLS

#: demo users' password (local demo only; set ANDON_BI_DEMO_PASSWORD elsewhere)
DEMO_PASSWORD_ENV = "ANDON_BI_DEMO_PASSWORD"
SUPPLIER_COLUMN = "supplier_id"
#: Gamma permissions a read-only role does not get
WRITE_PERMISSIONS = ("can_write", "can_save", "can_sqllab", "can_execute_sql_query", "can_csv_upload",
                     "can_share_chart", "can_share_dashboard", "can_tag", "can_delete")


def demo_password() -> str:
    import os

    return os.environ.get(DEMO_PASSWORD_ENV, "andon-demo")


def supplier_role(supplier_id: str) -> str:
    return f"supplier_{supplier_id}"


class Roles:
    """Superset's roles and permission-view ids, looked up once per provisioning."""

    def __init__(self, client: Superset) -> None:
        self.client = client
        self.ids = {r["name"]: r["id"] for r in client.list_all("security/roles")}
        self.pvms = {(p["permission"]["name"], p["view_menu"]["name"]): p["id"]
                     for p in client.list_all("security/permissions-resources")}

    def permissions_of(self, role: str) -> list[dict[str, Any]]:
        return self.client.get(f"/api/v1/security/roles/{self.ids[role]}/permissions/")["result"]

    def ensure(self, name: str, pvm_ids: set[int]) -> int:
        """Create the role when missing and set exactly these permissions (idempotent)."""
        if name not in self.ids:
            self.ids[name] = self.client.post("/api/v1/security/roles/", json={"name": name})["id"]
        self.client.post(f"/api/v1/security/roles/{self.ids[name]}/permissions",
                         json={"permission_view_menu_ids": sorted(pvm_ids)})
        return self.ids[name]

    def pvm(self, permission: str, view: str) -> int:
        return self.pvms[(permission, view)]


def ensure_user(client: Superset, username: str, role_ids: list[int], password: str) -> None:
    users = {u["username"]: u["id"] for u in client.list_all("security/users", columns=["id", "username"])}
    body = {"first_name": username, "last_name": "(demo)", "email": f"{username}@andon.local", "active": True,
            "roles": role_ids}
    if username in users:
        client.put(f"/api/v1/security/users/{users[username]}", json=body)
    else:
        client.post("/api/v1/security/users/", json={**body, "username": username, "password": password})


def supplier_ids(cfg: Settings) -> list[str]:
    """The suppliers of the gold lot table (delta-rs; no Superset involved)."""
    from andon.tables import read_table

    lots = read_table(cfg.table_path("gold", "fct_supplier_lot_quality"))
    return [] if lots is None else sorted(str(s) for s in lots[SUPPLIER_COLUMN].dropna().unique())


def provision_access(client: Superset, suppliers: list[str]) -> dict[str, Any]:
    """Roles ``analyst``, ``leadership`` and ``supplier_<ID>`` (with row-level security on every
    dataset with a supplier column), and one demo user per role."""
    roles = Roles(client)
    database = next(d for d in client.list_all("database") if d["database_name"] == "andon_gold")
    db_access = roles.pvm("database_access", f"[andon_gold].(id:{database['id']})")
    gamma = {p["id"] for p in roles.permissions_of("Gamma")}
    read_only = {p["id"] for p in roles.permissions_of("Gamma")
                 if not p["permission_name"].startswith(WRITE_PERMISSIONS)}
    sql_lab = {p["id"] for p in roles.permissions_of("sql_lab")} if "sql_lab" in roles.ids else set()
    analyst = roles.ensure("analyst", gamma | sql_lab | {db_access})
    leadership = roles.ensure("leadership", read_only | {db_access})

    datasets = client.list_all("dataset", columns=["id", "table_name"])
    scoped: list[dict[str, Any]] = []
    for ds in datasets:
        columns = client.get(f"/api/v1/dataset/{ds['id']}")["result"]["columns"]
        if any(c["column_name"] == SUPPLIER_COLUMN for c in columns):
            scoped.append(ds)
    scoped_access = {roles.pvm("datasource_access", f"[andon_gold].[{d['table_name']}](id:{d['id']})") for d in scoped}
    rules = {r["name"]: r["id"] for r in client.list_all("rowlevelsecurity", columns=["id", "name"])}
    password = demo_password()
    for supplier in suppliers:
        name = supplier_role(supplier)
        role_id = roles.ensure(name, read_only | scoped_access)
        rule = {"name": name, "filter_type": "Regular", "tables": [d["id"] for d in scoped], "roles": [role_id],
                "group_key": SUPPLIER_COLUMN, "clause": f"{SUPPLIER_COLUMN} = '{supplier}'",
                "description": f"supplier {supplier} sees only its own rows"}
        if name in rules:
            client.put(f"/api/v1/rowlevelsecurity/{rules[name]}", json=rule)
        else:
            client.post("/api/v1/rowlevelsecurity/", json=rule)
        ensure_user(client, name.lower(), [role_id], password)
    ensure_user(client, "analyst", [analyst], password)
    ensure_user(client, "leadership", [leadership], password)
    return {"suppliers": suppliers, "rls_datasets": sorted(d["table_name"] for d in scoped)}
