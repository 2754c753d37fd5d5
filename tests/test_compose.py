"""Compose: headers, hostile subjects, who gets what, follow-ups, the per-recipient limit."""

from __future__ import annotations

import base64
import email
import uuid
from dataclasses import replace
from datetime import timedelta
from email import policy
from email.parser import BytesHeaderParser

import outgoing
import pytest

from pipeline.config import from_dict
from pipeline.db import open_database, utcnow
from pipeline.outbound import admin, queue
from pipeline.outbound.templatecheck import Guess, sample_context, sample_raw
from pipeline.process.parse import parse_message
from pipeline.schema import inbound, tickets

CONFIG = {
    "smtp": {"url": "smtp://127.0.0.1:2525", "from": "Mesa de servicio <desk@example.org>",
             "reply_to": "soporte@example.org"},
    "routing": {"default": "n1@example.org", "triage": "triage@example.org"},
    "outbox": {"own_addresses": ["agent@example.org"]},
}
ACK_HEADERS = ["from", "to", "reply-to", "subject", "date", "message-id", "in-reply-to",
               "references", "auto-submitted", "x-auto-response-suppress", "x-triaje-ticket",
               "mime-version", "content-type"]


def outbound(**outbox_table):
    data = dict(CONFIG, outbox={**CONFIG["outbox"], **outbox_table})
    return from_dict(data).outbound


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    return [k.lower() for k in BytesHeaderParser(policy=policy.compat32).parsebytes(head)]


def message(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


@pytest.fixture
def engine(tmp_path):
    return open_database(f"sqlite:///{tmp_path / 'triaje.db'}")


def seed(engine, requester: str = "ana@example.org") -> tuple[int, int]:
    """A ticket and its inbound message, so outbox rows have real foreign keys."""
    now, key = utcnow(), uuid.uuid4().hex
    with engine.begin() as conn:
        ticket_id = conn.execute(tickets.insert().values(
            ref=f"SD-{key[:8]}", mailbox="desk", subject="s", requester=requester,
            language="es", status="open", created_at=now, updated_at=now)).inserted_primary_key[0]
        inbound_id = conn.execute(inbound.insert().values(
            mailbox="desk", folder="INBOX", dedupe_key=key, raw=b"x", size=1, state="processed",
            attempts=0, received_at=now, server_done=False,
            ticket_id=ticket_id)).inserted_primary_key[0]
    return ticket_id, inbound_id


def test_ack_headers_are_rfc3834_clean_and_thread_to_the_user_message():
    cfg = outbound()
    ack, route_mail = outgoing.build_mails(cfg, sample_context("es"))
    msg = message(ack.raw)
    assert header_names(ack.raw) == ACK_HEADERS
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert "Precedence" not in msg
    assert msg["In-Reply-To"] == "<sample-1@example.org>"
    assert "<sample-1@example.org>" in msg["References"]
    assert msg["Subject"] == "[SD-000123] Re: No puedo imprimir"
    assert msg["Reply-To"].addresses[0].addr_spec == "soporte@example.org"
    assert msg["From"].addresses[0].addr_spec == "desk@example.org"
    assert msg["To"] == "ana@example.org" and ack.recipients == ("ana@example.org",)
    assert msg["Message-ID"] == ack.message_id and ack.message_id.endswith("@example.org>")
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    route_msg = message(route_mail.raw)
    assert route_msg["Auto-Submitted"] == "auto-generated"
    assert route_msg["X-Auto-Response-Suppress"] == "All"
    assert route_msg.get_content_type() == "multipart/mixed"
    assert ack.message_id != route_mail.message_id


def test_routing_mail_attaches_the_original_byte_for_byte():
    raw = ("From: Ana <ana@example.org>\r\nTo: desk@example.org\r\nSubject: =?utf-8?q?Impresi=C3=B3n?="
           "\r\nMessage-ID: <orig-8bit@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\nLa impresora no va, ¿podéis mirarlo?\r\n"
           ".\r\n--===============0000000000000000000==\r\nFrom here on\r\n").encode()
    ctx = sample_context("es", raw=raw)
    route_mail = outgoing.build_mails(outbound(), ctx)[1]
    attached = next(message(route_mail.raw).iter_attachments())
    assert attached.get_content_type() == "message/rfc822"
    assert attached["Content-Transfer-Encoding"] == "8bit"
    assert raw in route_mail.raw  # the original bytes, unchanged, inside the routing mail
    assert attached.get_payload(0)["Message-ID"] == "<orig-8bit@example.org>"


def _hostile_subjects() -> dict[str, bytes]:
    injected = base64.b64encode(b"Hola\r\nBcc: evil@example.net\r\nX-Evil: 1").decode()
    nested = base64.b64encode(f"=?utf-8?b?{injected}?=".encode()).decode()
    return {
        "encoded-b": f"=?utf-8?b?{injected}?=".encode(),
        "encoded-q": b"=?utf-8?q?Hola=0D=0ABcc=3A_evil=40example=2Enet?=",
        "nested": f"=?utf-8?b?{nested}?=".encode(),
        "folded": b"Hola\r\n Bcc: evil@example.net",
        "huge": b"A" * 100_000 + b"\r\n X-Evil: 1",
        "control": b"Hola \x0b\x0c\x1b[31m rojo\x7f",
    }


@pytest.mark.parametrize("name", list(_hostile_subjects()))
def test_hostile_subject_cannot_add_a_header(name):
    subject = _hostile_subjects()[name]
    raw = (b"From: Ana <ana@example.org>\r\nTo: desk@example.org\r\nSubject: " + subject +
           b"\r\nMessage-ID: <h1@example.org>\r\n\r\nHola\r\n")
    ctx = sample_context("es", raw=raw)
    mails = outgoing.build_mails(outbound(), ctx)
    assert [m.kind for m in mails] == ["ack", "route"]
    for mail in mails:
        names = header_names(mail.raw)
        assert "bcc" not in names and "x-evil" not in names
        assert names == [n for n in ACK_HEADERS if n in names] and len(names) == len(set(names))
        subject_out = message(mail.raw)["Subject"]
        assert "\r" not in subject_out and "\n" not in subject_out
        assert len(subject_out) <= 250 and subject_out.startswith("[SD-000123]")


def test_subject_with_raw_line_breaks_in_the_record_cannot_add_a_header():
    ctx = sample_context("en")
    evil = "Hi\r\nBcc: evil@example.net\nX-Evil: 1\r\n\r\nbody"
    ctx = replace(ctx, parsed=replace(ctx.parsed, subject=evil))
    for mail in outgoing.build_mails(outbound(), ctx):
        assert "bcc" not in header_names(mail.raw) and "x-evil" not in header_names(mail.raw)
        assert "Hi Bcc: evil@example.net X-Evil: 1 body" in message(mail.raw)["Subject"]


def test_no_ack_for_automatic_messages_but_the_team_is_told():
    result = outgoing.compose(outbound(), sample_context("es", automatic=True))
    assert [m.kind for m in result.mails] == ["route"]
    assert any("automatic" in reason for reason in result.skipped)


@pytest.mark.parametrize("sender", ["desk@example.org", "soporte@example.org",
                                    "agent@example.org", "AGENT@example.org"])
def test_never_an_ack_to_our_own_addresses(sender):
    ctx = sample_context("es", raw=sample_raw("es", sender=sender))
    result = outgoing.compose(outbound(), ctx)
    assert "ack" not in [m.kind for m in result.mails]
    assert any("own addresses" in reason for reason in result.skipped)


def test_routing_never_targets_the_desk_mailbox_itself():
    data = dict(CONFIG, routing={"default": "desk@example.org"})
    result = outgoing.compose(from_dict(data).outbound, sample_context("es"))
    assert [m.kind for m in result.mails] == ["ack"]
    assert any("no routing mail" in reason for reason in result.skipped)


def test_followup_gets_no_ack_and_is_forwarded_to_the_owner_team():
    ctx = sample_context("es", is_followup=True, owner_team=("n2@example.org",))
    result = outgoing.compose(outbound(), ctx)
    assert [(m.kind, m.recipients) for m in result.mails] == [("forward", ("n2@example.org",))]
    forward = message(result.mails[0].raw)
    assert forward["Auto-Submitted"] == "auto-generated"
    assert forward["Subject"].startswith("[SD-000123] Nuevo mensaje: ")


def test_followup_note_when_configured():
    ctx = sample_context("en", is_followup=True, owner_team=("n2@example.org",))
    mails = outgoing.build_mails(outbound(followup_note=True), ctx)
    assert [m.kind for m in mails] == ["forward", "followup"]
    note = message(mails[1].raw)
    assert note["Auto-Submitted"] == "auto-replied" and note["To"] == "ana@example.org"
    assert "added your message to your case SD-000123" in note.get_body(("plain",)).get_content()


def test_automatic_followup_is_not_forwarded_unless_asked():
    ctx = sample_context("es", is_followup=True, automatic=True, owner_team=("n2@example.org",))
    assert outgoing.build_mails(outbound(followup_note=True), ctx) == []
    mails = outgoing.build_mails(outbound(forward_automatic=True, followup_note=True), ctx)
    assert [m.kind for m in mails] == ["forward"]


def test_followup_without_owner_team_uses_the_routing_rules():
    ctx = sample_context("es", is_followup=True)
    mails = outgoing.build_mails(outbound(), ctx)
    assert [(m.kind, m.recipients) for m in mails] == [("forward", ("n1@example.org",))]


def test_recipient_limit_counts_the_outbox_in_compose_and_in_enqueue(engine):
    cfg = outbound(recipient_limit=3, recipient_window=3600)
    acks = 0
    for _ in range(5):
        ticket_id, inbound_id = seed(engine)
        ctx = sample_context("es", ticket_id=ticket_id, inbound_id=inbound_id)
        with engine.begin() as conn:
            result = outgoing.compose(cfg, ctx, conn)
            queue.enqueue(conn, outgoing.planned(result.mails))
        acks += sum(m.kind == "ack" for m in result.mails)
        assert "route" in [m.kind for m in result.mails]  # the team always hears about it
    assert acks == 3
    assert "limit 3" in result.skipped[0]
    # without a connection compose cannot count, but enqueue still refuses the ack
    ticket_id, inbound_id = seed(engine)
    mails = outgoing.build_mails(cfg, sample_context("es", ticket_id=ticket_id,
                                                    inbound_id=inbound_id))
    with engine.begin() as conn:
        queued = queue.enqueue_detailed(conn, outgoing.planned(mails))
    assert len(queued.ids) == 1 and "limit 3" in queued.skipped[0]
    # another sender is not affected
    ticket_id, inbound_id = seed(engine, "bob@example.org")
    ctx = sample_context("es", raw=sample_raw("es", sender="bob@example.org"),
                         ticket_id=ticket_id, inbound_id=inbound_id)
    with engine.begin() as conn:
        assert "ack" in [m.kind for m in outgoing.compose(cfg, ctx, conn).mails]


def test_recipient_limit_window_expires(engine):
    cfg = outbound(recipient_limit=1, recipient_window=60)
    ticket_id, inbound_id = seed(engine)
    ctx = sample_context("es", ticket_id=ticket_id, inbound_id=inbound_id)
    with engine.begin() as conn:
        queue.enqueue(conn, outgoing.planned(outgoing.build_mails(cfg, ctx, conn)))
    ticket_id, inbound_id = seed(engine)
    later = replace(ctx, ticket_id=ticket_id, inbound_id=inbound_id)
    with engine.begin() as conn:
        assert "ack" not in [m.kind for m in outgoing.build_mails(cfg, later, conn)]
        result = outgoing.compose(cfg, later, conn, now=utcnow() + timedelta(seconds=61))
        assert "ack" in [m.kind for m in result.mails]


def test_one_message_never_gets_two_acks(engine):
    cfg = outbound()
    ticket_id, inbound_id = seed(engine)
    ctx = sample_context("es", ticket_id=ticket_id, inbound_id=inbound_id)
    with engine.begin() as conn:
        first = queue.enqueue(conn, outgoing.planned(outgoing.build_mails(cfg, ctx, conn)))
    with engine.begin() as conn:  # the same message processed again (a retry, a restart)
        again = queue.enqueue_detailed(conn, outgoing.planned(outgoing.build_mails(cfg, ctx, conn)))
    assert len(first) == 2 and again.ids == []
    assert all("already has" in reason for reason in again.skipped)
    assert [r["kind"] for r in admin.list_rows(engine)] == ["route", "ack"]


def test_enqueue_does_not_commit(engine):
    ticket_id, inbound_id = seed(engine)
    mails = outgoing.build_mails(outbound(), sample_context("es", ticket_id=ticket_id,
                                                           inbound_id=inbound_id))
    with engine.connect() as conn:
        transaction = conn.begin()
        assert len(queue.enqueue(conn, outgoing.planned(mails))) == 2
        transaction.rollback()
    assert admin.list_rows(engine) == []


def test_reply_subject_keeps_one_tag_and_one_re():
    raw = sample_raw("es", subject="RE: [SD-000123] No puedo imprimir")
    ack = outgoing.build_mails(outbound(), sample_context("es", raw=raw))[0]
    assert message(ack.raw)["Subject"] == "[SD-000123] RE: No puedo imprimir"
    empty = outgoing.build_mails(outbound(), sample_context("en", raw=sample_raw("en", subject="")))
    assert message(empty[0].raw)["Subject"] == "[SD-000123] Re: (no subject)"


def test_unusable_sender_address_gets_no_ack():
    raw = sample_raw("es").replace(b"<ana@example.org>", b"<ana>")
    result = outgoing.compose(outbound(), sample_context("es", raw=raw))
    assert [m.kind for m in result.mails] == ["route"]
    assert parse_message(raw).from_addr == "ana"


def test_predictions_needing_review_send_triage_not_route():
    ctx = sample_context("es", predictions={"type": Guess("incident", 0.3, True)})
    kinds = [(m.kind, m.recipients) for m in outgoing.build_mails(outbound(), ctx)]
    assert kinds == [("ack", ("ana@example.org",)), ("triage", ("triage@example.org",))]


def test_original_with_overlong_lines_travels_base64_encoded():
    raw = (b"From: Ana <ana@example.org>\r\nSubject: long\r\nMessage-ID: <long@example.org>\r\n\r\n"
           + b"x" * 5000 + b"\r\n")
    route_mail = outgoing.build_mails(outbound(), sample_context("es", raw=raw))[1]
    assert max(len(line) for line in route_mail.raw.split(b"\r\n")) <= 998
    attached = next(message(route_mail.raw).iter_attachments())
    assert attached.get_filename() == "original.eml"
    assert attached.get_content() == raw
