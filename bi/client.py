"""A small Superset REST client on plain ``requests`` (JWT login + CSRF token, as STACK_NOTES says)."""

from __future__ import annotations

import json
from typing import Any

import requests


class SupersetError(RuntimeError):
    pass


class Superset:
    """One logged-in session: ``Superset(url).login(user, password)``."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def login(self, username: str, password: str) -> Superset:
        r = self.session.post(f"{self.url}/api/v1/security/login", timeout=self.timeout,
                              json={"username": username, "password": password, "provider": "db", "refresh": True})
        if r.status_code != 200:
            raise SupersetError(f"login of {username!r} failed: {r.status_code} {r.text[:300]}")
        self.session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        csrf = self.session.get(f"{self.url}/api/v1/security/csrf_token/", timeout=self.timeout)
        csrf.raise_for_status()
        self.session.headers.update({"X-CSRFToken": csrf.json()["result"], "Referer": self.url})
        return self

    def browser_login(self, username: str, password: str) -> str:
        """Log in through the web form; returns the ``session`` cookie (for a browser)."""
        import re

        page = self.session.get(f"{self.url}/login/", timeout=self.timeout)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text) or re.search(
            r'"csrf_token":\s*"([^"]+)"', page.text)
        data = {"username": username, "password": password}
        if token:
            data["csrf_token"] = token.group(1)
        r = self.session.post(f"{self.url}/login/", data=data, timeout=self.timeout, allow_redirects=True)
        cookie = self.session.cookies.get("session")
        if r.status_code >= 400 or not cookie:
            raise SupersetError(f"web login of {username!r} failed: {r.status_code}")
        return cookie

    # ------------------------------------------------------------------ plain calls
    def request(self, method: str, path: str, **kw: Any) -> Any:
        timeout = kw.pop("timeout", self.timeout)
        try:
            r = self.session.request(method, f"{self.url}{path}", timeout=timeout, **kw)
        except requests.ConnectionError as exc:
            # a kept-alive connection the server had closed: nothing was received, send it once more
            if "RemoteDisconnected" not in repr(exc):
                raise
            r = self.session.request(method, f"{self.url}{path}", timeout=timeout, **kw)
        if r.status_code >= 400:
            raise SupersetError(f"{method} {path}: {r.status_code} {r.text[:1500]}")
        return r.json() if r.content else None

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def list_all(self, resource: str, filters: list[dict[str, Any]] | None = None,
                 columns: list[str] | None = None) -> list[dict[str, Any]]:
        """Every row of a list endpoint (``/api/v1/<resource>/``), page by page."""
        rows: list[dict[str, Any]] = []
        page = 0
        while True:
            q: dict[str, Any] = {"page": page, "page_size": 100}
            if filters:
                q["filters"] = filters
            if columns:
                q["columns"] = columns
            result = self.get(f"/api/v1/{resource}/", params={"q": _rison(q)})
            rows.extend(result["result"])
            if len(rows) >= result.get("count", 0) or not result["result"]:
                return rows
            page += 1

    # ------------------------------------------------------------------ assets
    def import_bundle(self, level: str, bundle: bytes, passwords: dict[str, str] | None = None) -> None:
        """``POST /api/v1/<level>/import/`` with overwrite=true (level: database, dataset, chart, dashboard)."""
        self.post(f"/api/v1/{level}/import/", files={"formData": ("bundle.zip", bundle, "application/zip")},
                  data={"overwrite": "true", "passwords": json.dumps(passwords or {})}, timeout=300)

    def export_dashboards(self, ids: list[int]) -> bytes:
        r = self.session.get(f"{self.url}/api/v1/dashboard/export/", params={"q": _rison(ids)}, timeout=self.timeout)
        r.raise_for_status()
        return r.content

    def query(self, dataset_id: int, columns: list[str], metrics: list[str] | None = None,
              row_limit: int = 10000) -> list[dict[str, Any]]:
        """Rows of a dataset through the chart-data API (``POST /api/v1/chart/data``), as this user:
        row-level security and dataset permissions apply exactly as for a chart."""
        query = {"columns": columns, "metrics": metrics or [], "row_limit": row_limit, "filters": [],
                 "orderby": [], "extras": {}}
        body = {"datasource": {"id": dataset_id, "type": "table"}, "queries": [query], "result_format": "json",
                "result_type": "full", "form_data": {"datasource": f"{dataset_id}__table", "viz_type": "table"}}
        return self.post("/api/v1/chart/data", json=body)["result"][0]["data"]

    def chart_data(self, chart_id: int, dashboard_id: int | None = None) -> list[dict[str, Any]]:
        """Run a saved chart's query as this user (``GET /api/v1/chart/<id>/data/``): result rows."""
        params = {"format": "json", "type": "full"}
        if dashboard_id is not None:
            params["dashboard_id"] = str(dashboard_id)
        return self.get(f"/api/v1/chart/{chart_id}/data/", params=params)["result"]


def _rison(value: Any) -> str:
    """Encode JSON-like values as Rison (what Superset's ``q=`` parameters take)."""
    if value is None:
        return "!n"
    if value is True:
        return "!t"
    if value is False:
        return "!f"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        safe = all(c.isalnum() or c in "-_./~" for c in value) and value and not value[0].isdigit() and value[0] != "-"
        return value if safe else "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, list | tuple):
        return "!(" + ",".join(_rison(v) for v in value) + ")"
    if isinstance(value, dict):
        return "(" + ",".join(f"{_rison(str(k))}:{_rison(v)}" for k, v in value.items()) + ")"
    raise TypeError(f"cannot encode {type(value).__name__} as rison")
