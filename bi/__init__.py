"""The analysts' Superset: a DuckDB catalog of views over the gold Delta tables, dashboards as
code (``infra/superset/bundle/``), roles and row-level security, all provisioned over REST.

Superset runs in its own virtualenv (``.venv-bi``, from ``infra/superset/requirements.lock``);
``duckdb_catalog.py`` and ``browser_check.py`` run there as scripts and import nothing of the
project. Everything else runs in the project's venv. ``python -m bi up|stop|status|catalog``.
"""
