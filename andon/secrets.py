"""Secrets the pipeline needs, from the environment (a secret store in production) or local files."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from andon.config import Settings


def pseudonym_key(cfg: Settings) -> bytes:
    """Key for pseudonymising personal data: from the environment, or a local key file.

    The embedded default creates a random key once under ``paths.secrets``; deployments pass
    it through the variable named by ``landing.pseudonym_key_env`` (a secret store in prod).
    """
    env_name = cfg.get("landing.pseudonym_key_env", "ANDON_PSEUDONYM_KEY")
    if os.environ.get(env_name):
        return os.environ[env_name].encode("utf-8")
    key_file = Path(cfg.raw["paths"]["secrets"]) / "pseudonym.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32), encoding="utf-8")
        key_file.chmod(0o600)
    return key_file.read_text(encoding="utf-8").strip().encode("utf-8")
