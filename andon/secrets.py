"""Secrets the pipeline needs, from the environment (a secret store in production) or local files."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from andon.config import Settings

KEY_FILE = "pseudonym.key"


def key_path(cfg: Settings) -> Path:
    """The local key file of the embedded default (``paths.secrets``/pseudonym.key)."""
    return Path(cfg.raw["paths"]["secrets"]) / KEY_FILE


def create_key_file(path: Path, key: str | None = None) -> bool:
    """Create ``path`` holding ``key`` (default: 32 random bytes as hex), owner-only, atomically.

    The folder is made 0700. The key is written to a temporary file in the same folder, which
    ``mkstemp`` creates 0600 whatever the umask, then linked to its name (``os.link`` fails if the
    name exists): the key file never exists world-readable, never exists empty or half-written, and
    two processes creating it at once end with one key that both read. Returns False when the file
    existed already (the existing key is kept).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd, tmp = tempfile.mkstemp(prefix=".key-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key or secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:          # another process created it meanwhile: keep that one
            return False
        return True
    finally:
        os.unlink(tmp)


def pseudonym_key(cfg: Settings) -> bytes:
    """Key for pseudonymising personal data: from the environment, or a local key file.

    The embedded default creates a random key once under ``paths.secrets`` (:func:`create_key_file`:
    0600 from the first byte); deployments pass it through the variable named by
    ``landing.pseudonym_key_env`` (a secret store in prod).
    """
    env_name = cfg.get("landing.pseudonym_key_env", "ANDON_PSEUDONYM_KEY")
    if os.environ.get(env_name):
        return os.environ[env_name].encode("utf-8")
    key_file = key_path(cfg)
    if not key_file.exists():
        create_key_file(key_file)
    return key_file.read_text(encoding="utf-8").strip().encode("utf-8")
