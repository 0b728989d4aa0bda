"""Layered configuration.

One configuration drives every environment; switching from the embedded single-machine
default to a cluster is a matter of configuration, never of code:

1. ``conf/base.yaml``                      (always)
2. ``conf/<ANDON_PROFILE>.yaml``           (``local`` by default; ``cluster`` is documented)
3. the file named by ``ANDON_CONFIG``      (optional, e.g. a deployment's own overrides)
4. environment variables ``ANDON__<SECTION>__<KEY>=value``
   (``ANDON__SPARK__MASTER=spark://host:7077``; keys are lower-cased)

``${ANDON_HOME}`` (default ``<repo>/.andon``), ``${ANDON_CACHE}`` (default
``~/.cache/andon``) and ``${ANDON_REPO}`` are expanded in every string value.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = REPO_ROOT / "conf"
ENV_PREFIX = "ANDON__"
LAYERS = ("bronze", "silver", "gold", "ops")


def andon_home() -> Path:
    """The one folder holding all local state (landing files, tables, metastore, MLflow, Airflow)."""
    return Path(os.environ.get("ANDON_HOME", REPO_ROOT / ".andon")).expanduser().resolve()


def andon_cache() -> Path:
    """Download caches that survive ``make clean`` (Maven/Ivy jars)."""
    return Path(os.environ.get("ANDON_CACHE", Path.home() / ".cache" / "andon")).expanduser()


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; dicts merge recursively, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """Turn ``ANDON__SPARK__MASTER=x`` into ``{"spark": {"master": "x"}}``.

    Keys under ``spark.conf`` keep their dots: ``ANDON__SPARK__CONF__spark.executor.memory=8g``.
    """
    result: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].split("__")
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part.lower(), {})
        last = parts[-1]
        node[last if "." in last else last.lower()] = value
    return result


_VAR = re.compile(r"\$\{(ANDON_HOME|ANDON_CACHE|ANDON_REPO)\}")


def _expand(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _VAR.sub(lambda m: variables[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _expand(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, variables) for v in value]
    return value


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"configuration file not found: {path}")
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; ``raw`` holds the merged mapping."""

    profile: str
    raw: dict[str, Any] = field(repr=False)

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    @property
    def landing_root(self) -> str:
        return self.raw["paths"]["landing"]

    @property
    def lakehouse_root(self) -> str:
        return self.raw["paths"]["lakehouse"]

    def table_path(self, layer: str, table: str) -> str:
        """Storage location of a Delta table: ``<lakehouse>/<layer>/<table>``."""
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; expected one of {LAYERS}")
        return f"{self.lakehouse_root.rstrip('/')}/{layer}/{table}"

    @property
    def is_local_storage(self) -> bool:
        return "://" not in self.lakehouse_root or self.lakehouse_root.startswith("file:")


def load_settings(profile: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Build the layered configuration (see the module docstring)."""
    environ = dict(os.environ if environ is None else environ)
    profile = profile or environ.get("ANDON_PROFILE", "local")
    merged = _read_yaml(CONF_DIR / "base.yaml")
    merged = deep_merge(merged, _read_yaml(CONF_DIR / f"{profile}.yaml"))
    extra = environ.get("ANDON_CONFIG")
    if extra:
        merged = deep_merge(merged, _read_yaml(Path(extra)))
    merged = deep_merge(merged, env_overrides(environ))
    home = Path(environ.get("ANDON_HOME", REPO_ROOT / ".andon")).expanduser().resolve()
    cache = Path(environ.get("ANDON_CACHE", Path.home() / ".cache" / "andon")).expanduser()
    variables = {"ANDON_HOME": str(home), "ANDON_CACHE": str(cache), "ANDON_REPO": str(REPO_ROOT)}
    return Settings(profile=profile, raw=_expand(merged, variables))


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide configuration (cached; tests call ``load_settings`` directly).

    Loading it also restricts the process's umask (:func:`restrict_umask`), so whatever this
    process writes from then on is owner-only."""
    cfg = load_settings()
    restrict_umask(cfg)
    return cfg


def restrict_umask(cfg: Settings) -> int | None:
    """Set the process umask to ``security.umask`` (``"077"``: files 0600, folders 0700).

    Called when the process-wide settings load and before the JVM starts (``andon.spark``), so
    the lakehouse, its Delta logs, the metastore, MLflow's store and artifacts, reports, digests
    and run logs written by this process and its children are readable by their owner only.
    Spark writes through Hadoop's file system, which applies its own mask instead
    (``fs.permissions.umask-mode``, set from the same value in :func:`andon.spark.spark_conf`).
    An empty value leaves the umask alone. Returns the mask set.
    """
    value = cfg.get("security.umask", "077")
    if value in (None, ""):
        return None
    mask = int(str(value), 8)
    os.umask(mask)
    return mask
