"""Superset configuration for Andon Lakehouse (loaded by Superset through SUPERSET_CONFIG_PATH).

Runs inside Superset's own virtualenv: it must not import the project's packages. Everything
machine-specific comes from the environment that ``python -m bi`` sets:

- ``ANDON_BI_HOME``: Superset's state (metadata DB, secret key), ``$ANDON_HOME/bi``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BI_HOME = Path(os.environ["ANDON_BI_HOME"])
BI_HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """A random key per installation, kept next to the metadata DB (never committed)."""
    path = BI_HOME / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(42))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{BI_HOME / 'superset.db'}?check_same_thread=false"
DATA_DIR = str(BI_HOME / "data")

# Freshness: analysts must see the latest version of every gold table, so query results are
# never cached (a chart query on the DuckDB catalog takes well under a second).
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 60}
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}
EXPLORE_FORM_DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}

FEATURE_FLAGS = {
    "DASHBOARD_RBAC": True,  # dashboards list the roles that may open them
    "ENABLE_TEMPLATE_PROCESSING": False,
}
ROW_LEVEL_SECURITY = True  # older name, harmless
ENABLE_ROW_LEVEL_SECURITY = True

# Local, single-user demo on 127.0.0.1: no async queries, no thumbnails, no telemetry.
WTF_CSRF_ENABLED = True
TALISMAN_ENABLED = False
SESSION_COOKIE_SAMESITE = "Lax"
THUMBNAILS = False
ALERT_REPORTS = False
SQLLAB_CTAS_NO_LIMIT = False
ROW_LIMIT = 50000
# Never set PUBLIC_ROLE_LIKE: it makes REST writes with a JWT run as anonymous (STACK_NOTES).
