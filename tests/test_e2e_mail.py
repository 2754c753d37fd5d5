"""End to end: real Dovecot in, real SMTP out. Acks, routing, triage, loops, outages."""

from __future__ import annotations

import email
import time
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from conftest import make_mail
from helpers import build_env, count, run_cycle
from smtp_receiver import Receiver
from stubmodel import KeywordModel

from pipeline.ingest import poller
from pipeline.outbound import sender
from pipeline.schema import inbound as inbound_table
from pipeline.schema import outbox as outbox_table

pytestmark = pytest.mark.dovecot
SAMPLE = Path(__file__).resolve().parents[1] / "pipeline" / "sample_mailbox" / "new"
DIAS = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]
# A fixed Wednesday morning in Madrid: the promised time must not depend on when CI runs.
FIXED_NOW = datetime(2026, 12, 2, 8, 20, tzinfo=UTC)


def mail_config(deskbox, tmp_path, monkeypatch, receiver, **extra):
    cfg = deskbox.config(tmp_path, monkeypatch)
    cfg["smtp"] = {"url": receiver.url, "from": "Mesa de servicio <desk@example.org>"}
    cfg["routing"] = {"triage": "triage@example.org", "default": "n1@example.org",
                      "rules": [{"type": ["incident"], "priority": ["critical", "high"],
                                 "to": ["n2@example.org"]},
                                {"queue": ["hardware"], "to": ["hw@example.org"]}]}
    cfg["service_levels"] = {"timezone": "Europe/Madrid",
                             "critical": {"first_response": "30m", "resolution": "4h"}}
    cfg.update(extra)
    env = build_env(cfg)
    env.model = KeywordModel()
    return env


def received(receiver) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.data, policy=policy.default) for m in receiver.messages]


def by_recipient(receiver, address):
    return [m for m, r in zip(received(receiver), receiver.messages, strict=True)
            if address in r.rcpt_tos]


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def test_spanish_and_english_acks_state_the_expected_time(deskbox, tmp_path, monkeypatch,
                                                          receiver):
    deskbox.append(make_mail(subject="VPN caída en toda la oficina", sender="ana@example.com",
                             body="Hola, no funciona la VPN en toda la oficina de Sevilla."))
    deskbox.append(make_mail(subject="Network down on floor 3", sender="bob@example.com",
                             body="Hello, the whole third floor has no network since 9am."))
    env = mail_config(deskbox, tmp_path, monkeypatch, receiver)
    with time_machine.travel(FIXED_NOW, tick=True):
        before = datetime.now(UTC)
        run_cycle(env)
    es, en = by_recipient(receiver, "ana@example.com"), by_recipient(receiver, "bob@example.com")
    assert len(es) == 1 and len(en) == 1
    due = (before + timedelta(minutes=30)).astimezone(ZoneInfo("Europe/Madrid"))
    es_text = es[0].get_body(("plain",)).get_content()
    en_text = en[0].get_body(("plain",)).get_content()
    assert "SD-000001" in es[0]["Subject"] and "Referencia de tu caso: SD-000001" in es_text
    assert DIAS[due.weekday()] in es_text and f"{due.hour}:{due.minute:02d}" in es_text
    assert "Sentimos las molestias" in es_text
    assert "SD-000002" in en[0]["Subject"] and due.strftime("%A") in en_text
    for ack in (es[0], en[0]):
        assert ack["Auto-Submitted"] == "auto-replied"
        assert ack["X-Auto-Response-Suppress"] == "All"
        assert ack["In-Reply-To"] and ack["References"]
        assert ack.get_body(("html",)) is not None  # multipart/alternative


def test_routing_rules_and_low_confidence_to_triage(deskbox, tmp_path, monkeypatch, receiver):
    deskbox.append(make_mail(subject="Red caída en la planta 2", sender="c1@example.com"))
    deskbox.append(make_mail(subject="La impresora no imprime", sender="c2@example.com"))
    deskbox.append(make_mail(subject="Pregunta sobre vacaciones", sender="c3@example.com"))
    deskbox.append(make_mail(subject="Impresora rara, no sé qué pasa", sender="c4@example.com"))
    env = mail_config(deskbox, tmp_path, monkeypatch, receiver)
    run_cycle(env)
    n2, hw, triage = (by_recipient(receiver, a) for a in
                      ("n2@example.org", "hw@example.org", "triage@example.org"))
    assert len(n2) == 1 and "Red caída en la planta 2" in n2[0]["Subject"]
    assert len(hw) == 1 and "La impresora no imprime" in hw[0]["Subject"]
    assert len(triage) == 2  # the unknown question and the unsure printer report
    route = n2[0]
    assert route["Auto-Submitted"] == "auto-generated"
    attached = [p for p in route.walk() if p.get_content_type() == "message/rfc822"]
    assert len(attached) == 1
    assert "tipo: incidencia" in route.get_body(("plain",)).get_content()


def test_no_ack_for_out_of_office_bounce_or_list(deskbox, tmp_path, monkeypatch, receiver):
    automatic = []
    for path in sorted(SAMPLE.iterdir()):
        raw = path.read_bytes()
        msg = email.message_from_bytes(raw, policy=policy.compat32)
        if (msg.get("Auto-Submitted") or msg.get("List-Id")
                or msg.get_content_type() == "multipart/report"):
            automatic.append(raw)
            deskbox.append(raw)
    assert len(automatic) == 3
    env = mail_config(deskbox, tmp_path, monkeypatch, receiver)
    summary = run_cycle(env)
    assert summary.automatic == 3
    acks = [m for m in received(receiver) if m["Auto-Submitted"] == "auto-replied"]
    assert acks == []
    with env.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(outbox_table.select())]
    assert "ack" not in kinds


@pytest.mark.parametrize("subject, headers", [
    ("Respuesta automática: No puedo imprimir", {}),
    ("Fuera de la oficina", {}),
    ("Automatic reply: Printer not working", {}),
    ("Out of Office: back on Monday", {}),
    ("Autoreply", {}),
    ("Hola", {"X_Autoreply": "yes"}),
    ("Hola", {"X_Autorespond": "yes"}),
    ("Hola", {"Precedence": "auto_reply"}),
])
def test_an_out_of_office_without_rfc3834_headers_is_registered_and_never_answered(
        deskbox, tmp_path, monkeypatch, receiver, subject, headers):
    """Vacation responders that do not say Auto-Submitted: a case for nobody, no ack, no
    team mail; the message is kept, registered as automatic."""
    deskbox.append(make_mail(subject=subject, sender="lucia@example.com",
                             body="Estaré fuera hasta el lunes. Para urgencias, llamad a Pedro.",
                             **headers))
    env = mail_config(deskbox, tmp_path, monkeypatch, receiver)
    summary = run_cycle(env)
    assert (summary.new_tickets, summary.automatic, summary.quarantined) == (1, 1, 0)
    with env.engine.connect() as conn:
        row = conn.execute(inbound_table.select()).one()
        kinds = [r.kind for r in conn.execute(outbox_table.select())]
    assert row.state == "processed" and row.automatic and "out of office" in row.auto_reason
    assert kinds == [] and receiver.messages == []


def test_an_out_of_office_answering_our_ack_is_not_forwarded(deskbox, tmp_path, monkeypatch,
                                                             receiver):
    deskbox.append(make_mail(subject="La impresora no imprime", sender="ana@example.com"))
    env = mail_config(deskbox, tmp_path, monkeypatch, receiver)
    run_cycle(env)
    ack = by_recipient(receiver, "ana@example.com")[0]
    before = len(receiver.messages)
    deskbox.append(make_mail(subject=f"Respuesta automática: {ack['Subject']}",
                             sender="ana@example.com", In_Reply_To=ack["Message-ID"],
                             body="Estoy de vacaciones hasta el día 14."))
    summary = run_cycle(env)
    assert (summary.followups, summary.automatic) == (1, 1)
    assert len(receiver.messages) == before  # no forward to the team, no note, no ack


def test_smtp_down_then_up_sends_each_mail_once(deskbox, tmp_path, monkeypatch):
    server = Receiver()
    deskbox.append(make_mail(subject="VPN caída", sender="dora@example.com"))
    env = mail_config(deskbox, tmp_path, monkeypatch, server)
    summary, _ = poller.poll_once(env)
    assert summary.new_tickets == 1
    first = sender.drain(env.engine, env.config.outbound)  # nothing listening
    assert first.sent == 0
    server.start()
    try:
        later = datetime.now(UTC) + timedelta(hours=2)  # past any backoff
        sender.drain(env.engine, env.config.outbound, now=later)
        sender.drain(env.engine, env.config.outbound, now=later + timedelta(hours=2))
        ids = [m["Message-ID"] for m in received(server)]
    finally:
        server.stop()
    assert len(ids) == 2 and len(set(ids)) == 2  # the ack and the routing mail, once each


def test_crash_between_commit_and_send_sends_once(deskbox, tmp_path, monkeypatch, receiver):
    deskbox.append(make_mail(subject="La impresora no imprime", sender="eva@example.com"))
    env = mail_config(deskbox, tmp_path, monkeypatch, receiver)
    poller.poll_once(env)  # committed with its outbox rows; the process "dies" before sending
    env2 = mail_config(deskbox, tmp_path, monkeypatch, receiver)  # a restart
    run_cycle(env2)
    run_cycle(env2)
    assert len(by_recipient(receiver, "eva@example.com")) == 1
    assert len(by_recipient(receiver, "hw@example.org")) == 1
    assert count(env2) == 1


def test_hostile_subject_cannot_add_headers(deskbox, tmp_path, monkeypatch, receiver):
    raw = (b"From: mallory@example.com\r\nTo: desk@example.org\r\n"
           b"Message-ID: <hostile-1@example.com>\r\n"
           b"Subject: =?utf-8?q?Impresora=0D=0ABcc:_victim@example.net=0D=0AX-Evil:_1?=\r\n"
           b"\r\n{{ 7*7 }} {% if true %}jinja{% endif %}\r\n")
    deskbox.append(raw)
    env = mail_config(deskbox, tmp_path, monkeypatch, receiver)
    run_cycle(env)
    for got, env_msg in zip(received(receiver), receiver.messages, strict=True):
        assert got["X-Evil"] is None and got["Bcc"] is None
        assert "victim@example.net" not in env_msg.rcpt_tos
    ack = by_recipient(receiver, "mallory@example.com")[0]
    text = ack.get_body(("plain",)).get_content()
    assert "{{ 7*7 }}" in text and "49" not in text


def test_template_override_from_site_folder(deskbox, tmp_path, monkeypatch, receiver):
    site = tmp_path / "site-templates" / "ack"
    site.mkdir(parents=True)
    (site / "es.txt.j2").write_text("Caso {{ ticket_ref }}: plantilla del sitio.\n")
    deskbox.append(make_mail(subject="La impresora no imprime", sender="fran@example.com"))
    env = mail_config(deskbox, tmp_path, monkeypatch, receiver,
                      templates={"directory": str(tmp_path / "site-templates")})
    run_cycle(env)
    ack = by_recipient(receiver, "fran@example.com")[0]
    assert ack.get_body(("plain",)).get_content().strip() == "Caso SD-000001: plantilla del sitio."


def test_daemon_with_idle_acks_without_waiting_for_the_poll(deskbox, tmp_path, monkeypatch, receiver):
    from pipeline.daemon import Daemon

    env = build_env({**deskbox.config(tmp_path, monkeypatch, idle=True, poll_interval=3600),
                     "smtp": {"url": receiver.url, "from": "Mesa <desk@example.org>"},
                     "routing": {"default": "n1@example.org"}})
    env.model = KeywordModel()
    daemon = Daemon(env)
    daemon.start()
    try:
        assert daemon.watchers[0].ready.wait(30), "the IDLE watcher never issued IDLE"
        started = time.monotonic()
        deskbox.append(make_mail(subject="Printer jammed", sender="gus@example.com"))
        while not by_recipient(receiver, "gus@example.com") and time.monotonic() - started < 30:
            time.sleep(0.02)
    finally:
        daemon.stop()
    # polling is hourly here: an ack at all means IDLE woke the poll and the sender
    # (the latency itself is measured by bench/ack_latency, not asserted)
    assert len(by_recipient(receiver, "gus@example.com")) == 1
