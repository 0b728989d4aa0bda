"""Superset as a local process: its own virtualenv, metadata under ``$ANDON_HOME/bi``, gunicorn.

- the virtualenv ``<repo>/.venv-bi`` is installed from ``infra/superset/requirements.lock``
  (uv, like the project's venv; it survives ``make clean``) and reinstalled when the lock changes;
- the metadata store is SQLite at ``$ANDON_HOME/bi/superset.db`` (``superset db upgrade``, the
  admin user, ``superset init``), made once;
- gunicorn listens on 127.0.0.1 only; its PID is kept in ``$ANDON_HOME/bi/superset.pid`` and
  ``stop`` ends exactly that process (and its workers, which are its children).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from andon.config import REPO_ROOT, Settings

SUPERSET_DIR = REPO_ROOT / "infra" / "superset"
LOCK_FILE = SUPERSET_DIR / "requirements.lock"
CONFIG_FILE = SUPERSET_DIR / "superset_config.py"
DEFAULT_PORT = 8088
ADMIN_USER = "admin"


@dataclass(frozen=True)
class BiPaths:
    """Where the analysts' Superset keeps its install and its state."""

    home: Path  # $ANDON_HOME/bi
    venv: Path  # <repo>/.venv-bi (or ANDON_BI_VENV)

    @classmethod
    def of(cls, cfg: Settings) -> BiPaths:
        home = Path(cfg.get("bi.home") or Path(cfg.get("paths.run")).parent / "bi")
        venv = Path(os.environ.get("ANDON_BI_VENV") or REPO_ROOT / ".venv-bi")
        return cls(home=home.resolve(), venv=venv)

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def superset(self) -> Path:
        return self.venv / "bin" / "superset"

    @property
    def metadata_db(self) -> Path:
        return self.home / "superset.db"

    @property
    def catalog(self) -> Path:
        return self.home / "gold.duckdb"

    @property
    def extension_dir(self) -> Path:
        return self.home / "duckdb_extensions"

    @property
    def pid_file(self) -> Path:
        return self.home / "superset.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "superset.log"

    @property
    def screens(self) -> Path:
        return self.home / "screens"


def superset_env(paths: BiPaths) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env.update({
        "ANDON_BI_HOME": str(paths.home),
        "SUPERSET_CONFIG_PATH": str(CONFIG_FILE),
        "FLASK_APP": "superset.app:create_app()",
        "PATH": f"{paths.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "SUPERSET_HOME": str(paths.home),
    })
    return env


def _uv() -> str:
    uv = shutil.which("uv")
    if uv:
        return uv
    cached = Path(os.environ.get("ANDON_CACHE", Path.home() / ".cache" / "andon")) / "uv-venv" / "bin" / "uv"
    if cached.exists():
        return str(cached)
    raise RuntimeError("uv not found: run `make setup` first")


def lock_digest() -> str:
    return hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()


def install(paths: BiPaths, log=print) -> bool:
    """Create or update Superset's virtualenv from the lock file; False when it was current."""
    stamp = paths.venv / ".andon-lock.sha256"
    if paths.python.exists() and stamp.exists() and stamp.read_text().strip() == lock_digest():
        return False
    uv = _uv()
    log(f"==> installing Superset into {paths.venv} from {LOCK_FILE.relative_to(REPO_ROOT)}")
    if not paths.python.exists():
        subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(paths.venv)], check=True)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(paths.python), "-r", str(LOCK_FILE)], check=True)
    stamp.write_text(lock_digest())
    return True


def admin_password() -> str:
    """The demo admin's password: ANDON_BI_ADMIN_PASSWORD, or 'admin' for the local demo."""
    return os.environ.get("ANDON_BI_ADMIN_PASSWORD", "admin")


def _superset(paths: BiPaths, *args: str, timeout: int = 600) -> None:
    done = subprocess.run([str(paths.superset), *args], env=superset_env(paths), capture_output=True, text=True,
                          timeout=timeout, cwd=paths.home)
    if done.returncode != 0:
        raise RuntimeError(f"superset {' '.join(args[:2])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


def init_metadata(paths: BiPaths, log=print) -> bool:
    """Create the metadata DB, the admin and Superset's roles once; False when it existed."""
    done_marker = paths.home / ".initialized"
    if done_marker.exists() and paths.metadata_db.exists():
        return False
    paths.home.mkdir(parents=True, exist_ok=True)
    log(f"==> initialising Superset's metadata in {paths.metadata_db}")
    _superset(paths, "db", "upgrade")
    _superset(paths, "fab", "create-admin", "--username", ADMIN_USER, "--firstname", "Andon", "--lastname", "Admin",
              "--email", "admin@andon.local", "--password", admin_password())
    _superset(paths, "init")
    done_marker.write_text("ok\n")
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def running_pid(paths: BiPaths) -> int | None:
    if not paths.pid_file.exists():
        return None
    try:
        pid = int(paths.pid_file.read_text().strip())
    except ValueError:
        return None
    return pid if _pid_alive(pid) else None


def healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def start(paths: BiPaths, port: int = DEFAULT_PORT, wait_seconds: float = 120.0, log=print) -> str:
    """Start gunicorn on 127.0.0.1:port unless ours is running; return the URL."""
    url = f"http://127.0.0.1:{port}"
    pid = running_pid(paths)
    if pid and healthy(url):
        log(f"==> Superset already running (pid {pid}) at {url}")
        return url
    if pid:
        stop(paths, log=log)
    if healthy(url):
        raise RuntimeError(f"port {port} already serves something that is not ours; set BI_PORT")
    log(f"==> starting Superset (gunicorn) at {url}")
    with open(paths.log_file, "ab") as out:
        proc = subprocess.Popen(
            [str(paths.venv / "bin" / "gunicorn"), "-w", "1", "-k", "gthread", "--threads", "8", "--timeout", "120",
             # keep idle connections 60 s (gunicorn's default, 2 s, makes a client's next request on a
             # reused connection fail with "Remote end closed connection" when the machine is busy)
             "--keep-alive", "60", "-b", f"127.0.0.1:{port}", "--limit-request-line", "0",
             "--limit-request-field_size", "0", "superset.app:create_app()"],
            env=superset_env(paths), stdout=out, stderr=subprocess.STDOUT, cwd=paths.home, start_new_session=True)
    paths.pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            paths.pid_file.unlink(missing_ok=True)
            raise RuntimeError(f"Superset exited with {proc.returncode}; see {paths.log_file}")
        if healthy(url):
            return url
        time.sleep(0.5)
    stop(paths, log=log)
    raise RuntimeError(f"Superset did not answer /health within {wait_seconds:.0f} s; see {paths.log_file}")


def stop(paths: BiPaths, timeout: float = 30.0, log=print) -> bool:
    """Stop the gunicorn we started (its PID file), master first; False when none was running."""
    pid = running_pid(paths)
    if pid is None:
        paths.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)  # gunicorn's master stops its workers
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        try:  # reap it when it is our child (tests start it in-process)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    paths.pid_file.unlink(missing_ok=True)
    log(f"==> Superset stopped (pid {pid})")
    return True
