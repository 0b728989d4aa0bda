"""Mailing the weekly digest: a real SMTP server (aiosmtpd) on localhost receives it.

The digest page is rendered by the real renderer with real charts (hand-made scores); the
message is parsed back with Python's ``email`` package. The sent-log is a Delta table in a
private lakehouse per test.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import socket
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest

from reporting.digest import digest_context, digest_meta, new_warnings, render
from reporting.mail import (
    MailError,
    already_sent,
    digest_message,
    html_to_text,
    mail_log,
    preview_html,
    send_digest,
    subject_line,
)
from reporting.smtp_sink import eml_name, port_open, start_background, start_server, status, stop_background
from reporting.workflow import episodes
from tests.unit.test_digest import MON, scores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mail_cfg(cfg, tmp_path):
    """The session settings with a private lakehouse, outbox and SMTP port."""
    raw = copy.deepcopy(cfg.raw)
    port = _free_port()
    raw["paths"].update(lakehouse=str(tmp_path / "lakehouse"), run=str(tmp_path / "run"))
    raw["mail"]["smtp"].update(host="127.0.0.1", port=port, security="none", conn_id="")
    raw["mail"]["sink"].update(host="127.0.0.1", port=port, outbox=str(tmp_path / "outbox"))
    raw["mail"]["recipients"] = {"leadership": ["director@example.com"], "site_szx": ["szx-qm@example.com"]}
    return dataclasses.replace(cfg, raw=raw)


@pytest.fixture
def digest_file(tmp_path) -> Path:
    s = scores()
    t = episodes(s).assign(owner="szx-quality", status="new", escalated=False)
    page = render(digest_context(MON + 6 * DAY, s, {}, t, None)[0])
    path = tmp_path / "digests" / "digest-2026-W11.html"
    path.parent.mkdir()
    path.write_text(page, encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(digest_meta("2026-W11", MON, s, new_warnings(s, MON), None)))
    return path


DAY = timedelta(days=1)


def _messages(outbox: Path):
    return [message_from_bytes(p.read_bytes(), policy=email_policy.default) for p in sorted(outbox.glob("*.eml"))]


def test_the_digest_arrives_as_multipart_html_with_inline_charts_and_a_text_part(mail_cfg, digest_file):
    outbox = Path(mail_cfg.raw["mail"]["sink"]["outbox"])
    server = start_server("127.0.0.1", mail_cfg.raw["mail"]["smtp"]["port"], outbox)
    try:
        result = send_digest(digest_file, mail_cfg)
    finally:
        server.stop()

    assert result["status"] == "sent"
    (msg,) = _messages(outbox)
    # new this week: L1 (factory) and LOT-1 (incoming); L2 was warned the week before too
    assert msg["Subject"] == "Andon 2026-W11: 2 new warnings (incoming 1, factory 1, field 0)"
    assert msg["To"] == "director@example.com, szx-qm@example.com"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    page = msg.get_body(preferencelist=("html",)).get_content()
    assert "New warnings" in text and "LOT-1" in text and "<td>" not in text
    cids = {p["Content-ID"].strip("<>"): p for p in msg.walk() if p.get_content_type() == "image/png"}
    referenced = set(re.findall(r"cid:([^'\"]+)", page))
    assert referenced and referenced == set(cids), (referenced, set(cids))
    assert "data:image/png" not in page
    for part in cids.values():
        assert part.get_content().startswith(b"\x89PNG")
        assert part.get_content_disposition() == "inline"
    assert already_sent(mail_cfg, "2026-W11")
    # what a mail client shows: the HTML part with every cid: resolved to its inline image
    (eml,) = outbox.glob("*.eml")
    preview = preview_html(eml.read_bytes())
    assert "cid:" not in preview and preview.count("data:image/png;base64,") == len(cids)


def test_a_week_is_mailed_once_unless_forced(mail_cfg, digest_file):
    outbox = Path(mail_cfg.raw["mail"]["sink"]["outbox"])
    server = start_server("127.0.0.1", mail_cfg.raw["mail"]["smtp"]["port"], outbox)
    try:
        first = send_digest(digest_file, mail_cfg)
        second = send_digest(digest_file, mail_cfg)
        forced = send_digest(digest_file, mail_cfg, force=True)
    finally:
        server.stop()
    assert [first["status"], second["status"], forced["status"]] == ["sent", "skipped", "sent"]
    assert len(_messages(outbox)) == 2
    assert list(mail_log(mail_cfg)["status"]) == ["sent", "sent"]


def test_a_failed_send_fails_loudly_is_logged_and_keeps_the_digest(mail_cfg, digest_file):
    port = mail_cfg.raw["mail"]["smtp"]["port"]
    assert not port_open("127.0.0.1", port)  # nobody listens
    with pytest.raises(MailError, match=f"127.0.0.1:{port}") as err:
        send_digest(digest_file, mail_cfg)
    assert str(digest_file) in str(err.value)
    assert digest_file.exists()
    log = mail_log(mail_cfg)
    assert list(log["status"]) == ["failed"] and "Connection" in log["error"].iloc[0]
    assert not already_sent(mail_cfg, "2026-W11")


def test_subject_line_says_partial_weeks_escalations_and_grade_changes():
    meta = {
        "week": "2026-W22",
        "partial_days": 1,
        "new_warnings": {"incoming_material": 3, "factory_output": 0, "field_return": 0},
        "escalated": 1,
        "grade_changes": [{"site_id": "SZX", "before": 3, "after": 2}],
    }
    assert subject_line(meta) == (
        "Andon 2026-W22 (partial, 1 day): 3 new warnings (incoming 3, factory 0, field 0), 1 escalated, "
        "grade SZX 3 -> 2"
    )
    assert subject_line({"week": "2026-W23", "new_warnings": {"field_return": 1}}) == (
        "Andon 2026-W23: 1 new warning (field 1)"
    )


def test_digest_meta_counts_scored_days_and_grade_changes():
    import pandas as pd

    s = scores()
    s = s[pd.to_datetime(s["score_date"]).dt.date <= MON + DAY]  # the week holds two scored days
    grades = pd.DataFrame(
        {
            "site_id": ["SZX", "SZX", "MUC", "MUC"],
            "month_start_date": ["2026-02-01", "2026-03-01", "2026-02-01", "2026-03-01"],
            "capability_grade": [3, 2, 4, 4],
        }
    )
    meta = digest_meta("2026-W11", MON, s, new_warnings(s, MON), grades)
    assert meta["scored_days"] == 2 and meta["partial_days"] == 2
    assert meta["grade_changes"] == [{"site_id": "SZX", "before": 3, "after": 2}]


def test_message_needs_recipients_and_text_part_reads_tables():
    page = "<html><body><h1>Digest</h1><table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"
    assert html_to_text(page).splitlines() == ["Digest", "======", "a | b", "1 | 2"]
    with pytest.raises(ValueError, match="no recipients"):
        digest_message(page, "s", "from@example.com", [])


def test_recipients_by_role_and_site_each_address_once():
    from reporting.mail import recipient_list

    config = {
        "leadership": ["director@example.com"],
        "site_quality": {"SZX": ["szx-qm@example.com", "director@example.com"], "GDL": "gdl-qm@example.com"},
        "empty_role": None,
    }
    assert recipient_list(config) == ("director@example.com", "szx-qm@example.com", "gdl-qm@example.com")
    with pytest.raises(ValueError, match=r"mail.recipients.site_quality.GDL: 'gdl quality' is not a mail address"):
        recipient_list({"site_quality": {"GDL": ["gdl quality"]}})


def test_sink_runs_in_the_background_and_stops_by_its_pid(mail_cfg, digest_file):
    outbox = Path(mail_cfg.raw["mail"]["sink"]["outbox"])
    try:
        assert "started" in start_background(mail_cfg)
        assert "already running" in start_background(mail_cfg)
        assert status(mail_cfg).startswith("running")
        send_digest(digest_file, mail_cfg)
    finally:
        stopped = stop_background(mail_cfg)
    assert "stopped" in stopped and status(mail_cfg) == "not running"
    (eml,) = outbox.glob("*.eml")
    assert eml.name.endswith("-andon-2026-w11-2-new-warnings-incoming-1-factory-1-field-0.eml")
    assert eml_name("Ä/b: c").endswith("-b-c.eml")


def test_an_airflow_smtp_connection_can_carry_the_mail(mail_cfg, digest_file, monkeypatch):
    """mail.smtp.conn_id: the Airflow SMTP provider's SmtpHook opens the session."""
    port = mail_cfg.raw["mail"]["smtp"]["port"]
    monkeypatch.setenv("AIRFLOW_CONN_ANDON_TEST_SMTP", f"smtp://127.0.0.1:{port}?disable_ssl=true&disable_tls=true")
    mail_cfg.raw["mail"]["smtp"].update(conn_id="andon_test_smtp", host="nowhere.invalid", port=1)
    outbox = Path(mail_cfg.raw["mail"]["sink"]["outbox"])
    server = start_server("127.0.0.1", port, outbox)
    try:
        assert send_digest(digest_file, mail_cfg)["status"] == "sent"
    finally:
        server.stop()
    (msg,) = _messages(outbox)
    assert msg["Subject"].startswith("Andon 2026-W11: ")
