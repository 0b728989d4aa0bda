"""The embedded default's mail server: a local SMTP sink that keeps every message as a file.

``make demo`` starts it (``andon mail-sink start``) on the loopback address and port of
``mail.sink`` (conf/base.yaml) before the digest is mailed; it stores each message it receives,
unchanged, as ``<mail.sink.outbox>/<UTC timestamp>-<subject>.eml`` (open it with any mail
client or read it with Python's ``email`` package). It runs as a background process whose PID is
kept in ``<paths.run>/smtp-sink.pid``; ``andon mail-sink stop`` stops exactly that process.
Built on ``aiosmtpd`` (a real SMTP server, also used by the tests).

Run in the foreground: ``python -m reporting.smtp_sink --host 127.0.0.1 --port 8025 --outbox DIR``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

PID_FILE = "smtp-sink.pid"


def eml_name(subject: str, when: datetime | None = None) -> str:
    """``20261124T071500123456Z-andon-2026-w22-3-new-warnings.eml`` (subject slug, 80 chars at most)."""
    when = when or datetime.now(UTC)
    slug = re.sub(r"[^a-z0-9]+", "-", subject.lower()).strip("-")[:80] or "no-subject"
    return f"{when.strftime('%Y%m%dT%H%M%S%fZ')}-{slug}.eml"


class OutboxHandler:
    """aiosmtpd handler: every accepted message becomes one ``.eml`` file in ``outbox``."""

    def __init__(self, outbox: str | Path) -> None:
        self.outbox = Path(outbox)
        self.outbox.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        subject = str(make_header(decode_header(message_from_bytes(data).get("Subject", ""))))
        with self._lock:
            path = self.outbox / eml_name(subject)
            while path.exists():
                time.sleep(0.001)
                path = self.outbox / eml_name(subject)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return "250 Message accepted for delivery"


def start_server(host: str, port: int, outbox: str | Path):
    """Start a sink in this process (a thread); returns the aiosmtpd ``Controller`` (``.stop()``)."""
    from aiosmtpd.controller import Controller

    controller = Controller(OutboxHandler(outbox), hostname=host, port=port)
    controller.start()
    return controller


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _sink_settings(cfg) -> tuple[str, int, Path, Path]:
    sink = cfg.raw["mail"]["sink"]
    return str(sink["host"]), int(sink["port"]), Path(sink["outbox"]), Path(cfg.raw["paths"]["run"]) / PID_FILE


def status(cfg) -> str:
    host, port, outbox, pid_file = _sink_settings(cfg)
    if pid_file.exists() and _pid_alive(int(pid_file.read_text().strip())):
        return f"running (pid {pid_file.read_text().strip()}) on {host}:{port}, outbox {outbox}"
    return "not running"


def start_background(cfg, wait_seconds: float = 15.0) -> str:
    """Start the sink as a background process unless it already runs; returns a status line."""
    host, port, outbox, pid_file = _sink_settings(cfg)
    if pid_file.exists():
        pid = int(pid_file.read_text().strip())
        if _pid_alive(pid) and port_open(host, port):
            return f"SMTP sink already running (pid {pid}) on {host}:{port}; messages go to {outbox}"
        pid_file.unlink()
    if port_open(host, port):
        raise RuntimeError(
            f"{host}:{port} is already in use by another program: stop it or set mail.sink.port and "
            f"mail.smtp.port (e.g. ANDON__MAIL__SINK__PORT / ANDON__MAIL__SMTP__PORT)"
        )
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    outbox.mkdir(parents=True, exist_ok=True)
    log_file = open(pid_file.with_suffix(".log"), "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        [sys.executable, "-m", "reporting.smtp_sink", "--host", host, "--port", str(port), "--outbox", str(outbox)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the SMTP sink exited with {proc.returncode}; see {pid_file.with_suffix('.log')}")
        if port_open(host, port):
            pid_file.write_text(str(proc.pid))
            return f"SMTP sink started (pid {proc.pid}) on {host}:{port}; messages go to {outbox}"
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"the SMTP sink did not open {host}:{port} within {wait_seconds:.0f} s")


def stop_background(cfg) -> str:
    """Stop the sink this project started (by its PID file); nothing else."""
    _, _, _, pid_file = _sink_settings(cfg)
    if not pid_file.exists():
        return "SMTP sink not running"
    pid = int(pid_file.read_text().strip())
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not _pid_alive(pid):
                break
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    return f"SMTP sink stopped (pid {pid})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--outbox", required=True, help="folder that receives one .eml file per message")
    args = parser.parse_args(argv)
    controller = start_server(args.host, args.port, args.outbox)
    print(f"SMTP sink on {args.host}:{args.port}, outbox {args.outbox}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
