"""Mail the weekly digest to leadership over SMTP, at most once per ISO week.

The digest file written by :mod:`reporting.digest` (``digest-<YYYY>-W<ww>.html``, charts as
``data:`` URIs) and its sidecar ``digest-<YYYY>-W<ww>.json`` (week, counts, subject) are turned
into one multipart message (:func:`digest_message`)::

    multipart/alternative
    +-- text/plain                 the digest as plain text (headings, table rows)
    +-- multipart/related
        +-- text/html              the digest, every chart referenced as cid:chart-N@andon
        +-- image/png (chart-N)    one inline part per chart, Content-ID <chart-N@andon>

:func:`send_digest` sends it with the ``mail`` settings (conf/base.yaml): through the Airflow SMTP
provider's ``SmtpHook`` when ``mail.smtp.conn_id`` names an Airflow connection, otherwise with
``smtplib`` to ``mail.smtp.host:port`` (``security`` none / starttls / ssl; user and password from
the environment variables named in the settings). Every attempt is recorded in the Delta table
``ops.digest_mail_log`` (week, subject, recipients, status, error, time); a week already
``sent`` is not sent again unless ``force``. A failed send records ``failed`` and raises
:class:`MailError` naming the server; the digest file stays where it is.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd

from andon.scopes import SCOPES

log = logging.getLogger(__name__)

MAIL_LOG_TABLE = "digest_mail_log"
_DATA_URI = re.compile(r"""src=(['"])data:image/png;base64,([A-Za-z0-9+/=]+)\1""")


class MailError(RuntimeError):
    """The digest could not be handed to the SMTP server."""


@dataclass(frozen=True)
class MailSettings:
    sender: str
    recipients: tuple[str, ...]
    conn_id: str
    host: str
    port: int
    security: str
    timeout: float
    user: str | None
    password: str | None

    @classmethod
    def from_config(cls, raw: dict[str, Any], environ: dict[str, str] | None = None) -> MailSettings:
        environ = os.environ if environ is None else environ
        mail = raw.get("mail") or {}
        smtp = mail.get("smtp") or {}
        recipients = recipient_list(mail.get("recipients") or {})
        security = str(smtp.get("security", "none")).lower()
        if security not in ("none", "starttls", "ssl"):
            raise ValueError(f"mail.smtp.security must be none, starttls or ssl, not {security!r}")
        return cls(
            sender=str(mail.get("sender", "andon-lakehouse@localhost")),
            recipients=recipients,
            conn_id=str(smtp.get("conn_id") or ""),
            host=str(smtp.get("host", "127.0.0.1")),
            port=int(smtp.get("port", 25)),
            security=security,
            timeout=float(smtp.get("timeout_seconds", 30)),
            user=environ.get(str(smtp.get("user_env", "ANDON_SMTP_USER"))) or None,
            password=environ.get(str(smtp.get("password_env", "ANDON_SMTP_PASSWORD"))) or None,
        )


def recipient_list(config: dict[str, Any]) -> tuple[str, ...]:
    """Every address of ``mail.recipients``, in order, each once. A role maps to a list of
    addresses, or to sites each with a list (``site_quality: {SZX: [...], GDL: [...]}``); every
    address listed receives the digest. A value that is not an address is refused."""
    found: list[str] = []

    def add(where: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{where}.{key}", inner)
            return
        for addr in [value] if isinstance(value, str) else list(value):
            addr = str(addr).strip()
            if not re.fullmatch(r"[^@\s]+@[^@\s]+", addr):
                raise ValueError(f"mail.recipients.{where}: {addr!r} is not a mail address")
            if addr not in found:
                found.append(addr)

    for role, value in config.items():
        add(str(role), value)
    return tuple(found)


# --------------------------------------------------------------------------- the message


class _TextExtractor(HTMLParser):
    """HTML -> readable plain text: headings underlined, list items and table rows one per line."""

    BLOCK = {"p", "div", "h1", "h2", "h3", "li", "tr", "table", "ol", "ul", "br"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.heading: str | None = None

    def _flush(self) -> None:
        text = re.sub(r"[ \t]+", " ", "".join(self.current)).strip()
        self.current = []
        if text:
            self.lines.append(text)
            if self.heading in ("h1", "h2"):
                self.lines.append(("=" if self.heading == "h1" else "-") * min(len(text), 72))
        self.heading = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "title"):
            self.skip += 1
        elif tag in self.BLOCK:
            self._flush()
            if tag in ("h1", "h2", "h3"):
                self.heading = tag
            if tag == "li":
                self.current.append("- ")
        elif tag in ("td", "th") and self.current:
            self.current.append(" | ")
        elif tag == "img":
            alt = dict(attrs).get("alt") or "chart"
            self.current.append(f"[chart: {alt}, see the HTML version]")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.current.append(data)

    def text(self) -> str:
        self._flush()
        return "\n".join(self.lines) + "\n"


def html_to_text(page: str) -> str:
    """The plain-text alternative of an HTML digest."""
    parser = _TextExtractor()
    parser.feed(page)
    parser.close()
    return parser.text()


def inline_images(page: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Replace every ``data:image/png;base64`` source by ``cid:chart-N@andon``; returns the new
    page and the (content id, PNG bytes) pairs in order."""
    images: list[tuple[str, bytes]] = []

    def _cid(match: re.Match) -> str:
        cid = f"chart-{len(images) + 1}@andon"
        images.append((cid, base64.b64decode(match.group(2))))
        return f"src={match.group(1)}cid:{cid}{match.group(1)}"

    return _DATA_URI.sub(_cid, page), images


def digest_message(page: str, subject: str, sender: str, recipients: tuple[str, ...] | list[str]) -> EmailMessage:
    """The multipart message of an HTML digest page (see the module docstring)."""
    if not recipients:
        raise ValueError("no recipients: set mail.recipients.<role> in the configuration")
    html_part, images = inline_images(page)
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Message-ID"] = make_msgid(domain="andon.local")
    msg.set_content(html_to_text(page))
    msg.add_alternative(html_part, subtype="html")
    related = msg.get_payload()[1]
    for cid, png in images:
        related.add_related(
            png,
            maintype="image",
            subtype="png",
            cid=f"<{cid}>",
            disposition="inline",
            filename=cid.split("@")[0] + ".png",
        )
    return msg


def subject_line(meta: dict[str, Any]) -> str:
    """``Andon 2026-W22: 3 new warnings (incoming 1, factory 0, field 2), grade SZX 3 -> 2``.

    ``meta`` is the digest's sidecar: ``week``, ``partial_days`` (days of the week with data when
    fewer than 7), ``new_warnings`` per scope, ``grade_changes`` (site, before, after)."""
    new = meta.get("new_warnings") or {}
    short = {s.name: s.short for s in SCOPES.values()}
    total = sum(int(v) for v in new.values())
    parts = [f"{total} new warning{'s' if total != 1 else ''}"]
    if new:
        parts[0] += " (" + ", ".join(f"{short.get(k, k)} {int(v)}" for k, v in new.items()) + ")"
    if meta.get("escalated"):
        parts.append(f"{int(meta['escalated'])} escalated")
    for change in meta.get("grade_changes") or []:
        parts.append(f"grade {change['site_id']} {change['before']} -> {change['after']}")
    week = meta.get("week", "?")
    if meta.get("partial_days"):
        n = int(meta["partial_days"])
        week += f" (partial, {n} day{'s' if n != 1 else ''})"
    return f"Andon {week}: " + ", ".join(parts)


# --------------------------------------------------------------------------- sending and the log


def _log_path(cfg) -> str:
    return cfg.table_path("ops", MAIL_LOG_TABLE)


def mail_log(cfg) -> pd.DataFrame:
    """Every recorded send attempt (empty frame when none)."""
    from andon.tables import read_table

    df = read_table(_log_path(cfg))
    cols = ["week", "subject", "recipients", "status", "error", "message_id", "attempted_at"]
    return pd.DataFrame(columns=cols) if df is None else df


def already_sent(cfg, week: str) -> bool:
    log_df = mail_log(cfg)
    return bool(((log_df["week"] == week) & (log_df["status"] == "sent")).any())


def _record(cfg, week: str, subject: str, recipients, status: str, error: str | None, message_id: str) -> None:
    from deltalake import write_deltalake

    row = pd.DataFrame(
        {
            "week": [week],
            "subject": [subject],
            "recipients": [", ".join(recipients)],
            "status": [status],
            "error": [error],
            "message_id": [message_id],
            "attempted_at": [datetime.now(UTC).replace(tzinfo=None)],
        }
    ).astype({"error": "string"})
    Path(_log_path(cfg)).parent.mkdir(parents=True, exist_ok=True)
    write_deltalake(_log_path(cfg), row, mode="append")


def _deliver(msg: EmailMessage, settings: MailSettings) -> None:
    if settings.conn_id:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=settings.conn_id) as hook:
            hook._smtp_client.send_message(msg)  # the hook opens, secures and authenticates the client
        return
    client_cls = smtplib.SMTP_SSL if settings.security == "ssl" else smtplib.SMTP
    with client_cls(settings.host, settings.port, timeout=settings.timeout) as client:
        if settings.security == "starttls":
            client.starttls()
        if settings.user:
            client.login(settings.user, settings.password or "")
        client.send_message(msg)


def send_digest(digest_path: str | Path, cfg=None, force: bool = False) -> dict[str, Any]:
    """Mail the digest at ``digest_path`` (its sidecar JSON next to it) unless its week was sent.

    Returns ``{"week", "status": "sent" | "skipped", "subject", "recipients"}``; raises
    :class:`MailError` when the server refuses or cannot be reached (the attempt is logged)."""
    from andon.config import settings as load_settings

    cfg = cfg or load_settings()
    path = Path(digest_path)
    meta_path = path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        raise FileNotFoundError(f"digest {path} or its sidecar {meta_path.name} is missing: write the digest first")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    week = meta["week"]
    mail = MailSettings.from_config(cfg.raw)
    subject = subject_line(meta)
    if not force and already_sent(cfg, week):
        log.info("digest %s was already mailed (ops.%s); not sent again (force to resend)", week, MAIL_LOG_TABLE)
        return {"week": week, "status": "skipped", "subject": subject, "recipients": list(mail.recipients)}
    msg = digest_message(path.read_text(encoding="utf-8"), subject, mail.sender, mail.recipients)
    server = f"Airflow connection {mail.conn_id!r}" if mail.conn_id else f"{mail.host}:{mail.port} ({mail.security})"
    try:
        _deliver(msg, mail)
    except (OSError, smtplib.SMTPException, Exception) as exc:  # noqa: BLE001 - recorded, then raised
        error = f"{type(exc).__name__}: {exc}"
        _record(cfg, week, subject, mail.recipients, "failed", error, msg["Message-ID"])
        raise MailError(
            f"mailing the digest {week} via {server} failed: {error}. The digest is kept at {path}; "
            f"fix the mail settings (docs/digest-mail.md) and re-run the digest DAG."
        ) from exc
    _record(cfg, week, subject, mail.recipients, "sent", None, msg["Message-ID"])
    log.info("digest %s mailed to %s via %s: %s", week, ", ".join(mail.recipients), server, subject)
    return {"week": week, "status": "sent", "subject": subject, "recipients": list(mail.recipients)}


def describe(result: dict[str, Any]) -> str:
    """One line for task logs and the CLI."""
    return html.unescape(f"{result['status']}: {result['subject']} -> {', '.join(result['recipients'])}")


# --------------------------------------------------------------------------- preview


def preview_html(eml: bytes) -> str:
    """The HTML part of a received digest as a mail client shows it: every ``cid:`` reference
    replaced by its inline image (as a data URI), so that a browser renders the mail offline."""
    from email import message_from_bytes
    from email import policy as email_policy

    msg = message_from_bytes(eml, policy=email_policy.default)
    body = msg.get_body(preferencelist=("html",))
    if body is None:
        raise ValueError("the message has no HTML part")
    page = body.get_content()
    for part in msg.walk():
        cid = (part.get("Content-ID") or "").strip("<>")
        if cid and part.get_content_maintype() == "image":
            data = base64.b64encode(part.get_payload(decode=True)).decode("ascii")
            page = page.replace(f"cid:{cid}", f"data:{part.get_content_type()};base64,{data}")
    return page


def screenshot(html_path: str | Path, png_path: str | Path, width: int = 1150, height: int = 2600) -> Path:
    """A PNG of ``html_path`` rendered by headless Chromium (Debian package ``chromium``)."""
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        raise ValueError("no Chromium found: install it (apt-get install chromium) to take a screenshot")
    png = Path(png_path).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
             "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    cmd = [browser, *flags, f"--window-size={width},{height}", f"--screenshot={png}",
           Path(html_path).resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not png.exists():
        raise ValueError(f"chromium could not render {html_path}: {done.stderr.strip()[-500:]}")
    return png
