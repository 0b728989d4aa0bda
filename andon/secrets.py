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
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_file.parent.chmod(0o700)
        try:
            # Created readable by its owner only: never briefly world-readable (issue 14).
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:      # another process created it meanwhile: use that one
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_hex(32))
    return key_file.read_text(encoding="utf-8").strip().encode("utf-8")
