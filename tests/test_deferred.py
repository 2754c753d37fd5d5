"""Mails planned at ingest and rendered by the sender: same bytes as rendering at once,
stored before the first attempt, repeated unchanged on retry, and a template that cannot
render fails that one row visibly instead of losing it."""

from __future__ import annotations

import datetime as dt
import email
import uuid
from dataclasses import replace
from email import policy

import pytest
from sqlalchemy import select

from pipeline.config import from_dict
from pipeline.db import open_database, utcnow
from pipeline.outbound import admin, planner, queue, sender
from pipeline.outbound.compose import compose
from pipeline.outbound.mail import MailContext
from pipeline.outbound.materialise import StoredPrediction, load_planned
from pipeline.outbound.templatecheck import sample_context
from pipeline.process.parse import parse_message
from pipeline.schema import inbound, predictions, tickets
from pipeline.schema import outbox as outbox_table

try:
    from tests.smtp_receiver import Receiver, smtp_receiver
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    from smtp_receiver import Receiver, smtp_receiver  # noqa: F401

T0 = dt.datetime(2026, 11, 27, 16, 45, tzinfo=dt.UTC)
RAW = ("From: Ana Pérez <ana@example.org>\r\nTo: desk@example.org\r\nSubject: Impresora\r\n"
       "Message-ID: <m-1@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n"
       "Content-Transfer-Encoding: 8bit\r\n\r\nLa impresora de la 3ª planta no imprime, "
       "¿podéis mirarlo?\r\n\r\nGracias,\r\nAna\r\n").encode()
GUESSES = {"type": StoredPrediction("incident", 0.93, False),
           "priority": StoredPrediction("high", 0.62, True),
           "queue": StoredPrediction("hardware", 0.77, False)}


def outbound(url: str = "smtp://127.0.0.1:1", directory: str | None = None):
    data = {"smtp": {"url": url, "from": "Mesa de servicio <desk@example.org>"},
            "routing": {"default": "n1@example.org", "triage": "triage@example.org"}}
    if directory:
        data["templates"] = {"directory": directory}
    return from_dict(data).outbound


@pytest.fixture
def engine(database_url):
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def stored_case(engine) -> MailContext:
    """A processed message as the write stages leave it: inbound row, ticket, predictions."""
    now, key = utcnow(), uuid.uuid4().hex
    with engine.begin() as conn:
        ticket_id = conn.execute(tickets.insert().values(
            ref="SD-000042", mailbox="desk", subject="Impresora", requester="ana@example.org",
            language="es", status="open", created_at=now, updated_at=now)).inserted_primary_key[0]
        inbound_id = conn.execute(inbound.insert().values(
            mailbox="desk", folder="INBOX", dedupe_key=key, raw=RAW, size=len(RAW),
            state="processed", attempts=0, received_at=now, server_done=False,
            ticket_id=ticket_id)).inserted_primary_key[0]
        for head, guess in GUESSES.items():
            conn.execute(predictions.insert().values(
                inbound_id=inbound_id, head=head, label=guess.label, confidence=guess.confidence,
                needs_review=guess.needs_review, model_version="m1", created_at=now))
    return replace(sample_context("es", raw=RAW), parsed=parse_message(RAW), ticket_ref="SD-000042",
                   ticket_id=ticket_id, inbound_id=inbound_id, predictions=dict(GUESSES))


def queue_planned(engine, cfg, ctx) -> dict[str, int]:
    with engine.begin() as conn:
        mails = planner.plan_mails(cfg, ctx, conn)
        ids = queue.enqueue_detailed(conn, mails, T0).ids
    return {mail.kind: row_id for mail, row_id in zip(mails, ids, strict=True)}


def from_row(conn, cfg, stored) -> bytes:
    """What the sender composes for a queued row (sender._materialise)."""
    return compose(cfg, *load_planned(conn, stored))


def row(engine, row_id: int):
    with engine.connect() as conn:
        return conn.execute(select(outbox_table).where(outbox_table.c.id == row_id)).one()


def test_rendering_later_gives_the_bytes_rendering_now_would(engine):
    cfg = outbound()
    ctx = stored_case(engine)
    drafts, skipped = planner.draft_mails(cfg, ctx)
    assert skipped == [] and [d.kind for d in drafts] == ["ack", "triage"]
    with engine.begin() as conn:
        for draft in drafts:
            planned = planner.outgoing(cfg, ctx, draft)
            row_id = queue.enqueue(conn, [planned])[0]
            stored = conn.execute(select(outbox_table).where(outbox_table.c.id == row_id)).one()
            assert stored.raw is None and '"ticket_ref": "SD-000042"' in stored.plan
            assert from_row(conn, cfg, stored) == compose(cfg, ctx, draft)


def test_planned_mails_are_rendered_once_and_resent_unchanged(engine):
    receiver = Receiver()  # nothing listens yet: the first attempt fails after rendering
    cfg = outbound(receiver.url)
    ids = queue_planned(engine, cfg, stored_case(engine))
    assert all(row(engine, i).raw is None for i in ids.values())
    assert sender.drain(engine, cfg, now=T0) == sender.DrainResult(retried=1)
    first = row(engine, ids["ack"])
    assert first.raw is not None and first.state == "queued"
    assert b"[SD-000042] Re: Impresora" in first.raw and b"In-Reply-To: <m-1@example.org>" in first.raw
    receiver.start()
    try:
        later = T0 + dt.timedelta(hours=1)
        assert sender.drain(engine, cfg, now=later) == sender.DrainResult(sent=2)
        got = {m.rcpt_tos[0]: m.data for m in receiver.messages}
    finally:
        receiver.stop()
    assert got["ana@example.org"] == first.raw == row(engine, ids["ack"]).raw
    triage = got["triage@example.org"]
    assert RAW.replace(b"\r\n", b"\r\n") in triage  # the original rides along, unchanged
    assert b"message/rfc822" in triage


def test_a_template_that_cannot_render_fails_its_row_and_retry_sends_it(engine, tmp_path,
                                                                        smtp_receiver):
    site = tmp_path / "site"
    (site / "ack").mkdir(parents=True)
    (site / "ack" / "es.txt.j2").write_text("Hola {{ no_such_variable }}\n", encoding="utf-8")
    ids = queue_planned(engine, outbound(smtp_receiver.url, str(site)), stored_case(engine))
    broken = outbound(smtp_receiver.url, str(site))
    assert sender.drain(engine, broken, now=T0) == sender.DrainResult(sent=1, failed=1)
    failed = row(engine, ids["ack"])
    assert failed.state == "failed" and failed.raw is None
    assert "cannot render" in failed.last_error and "no_such_variable" in failed.last_error
    assert [m.rcpt_tos for m in smtp_receiver.messages] == [["triage@example.org"]]

    (site / "ack" / "es.txt.j2").write_text("Hola {{ sender_name }}, caso {{ ticket_ref }}\n",
                                            encoding="utf-8")
    assert admin.retry(engine, [ids["ack"]], now=T0) == 1
    assert sender.drain(engine, broken, now=T0) == sender.DrainResult(sent=1)
    ack = [m for m in smtp_receiver.messages if m.rcpt_tos == ["ana@example.org"]]
    assert len(ack) == 1 and b"caso SD-000042" in ack[0].data


def test_an_oversized_message_is_rendered_from_the_same_truncated_parse(engine):
    """Ingest parses at most [desk] max_message_bytes; the sender must parse the same bytes,
    or the mail would show text the ticket never registered (and parse 50 MB twice)."""
    big = RAW.replace(b"Gracias,", b"relleno\r\n" * 2000 + b"COLA-FINAL Gracias,")
    case = stored_case(engine)
    with engine.begin() as conn:
        conn.execute(inbound.update().values(raw=big, size=len(big)))
    cfg = outbound()
    ctx = replace(case, raw=big, parsed=parse_message(big, 4096))
    assert "COLA-FINAL" not in ctx.parsed.text and ctx.parsed.notes
    with engine.begin() as conn:
        mails = planner.plan_mails(cfg, ctx, conn, parse_limit=4096)
        ids = queue.enqueue(conn, mails)
    triage = next(m for m, i in zip(mails, ids, strict=True) if m.kind == "triage")
    row_id = ids[mails.index(triage)]
    with engine.connect() as conn:
        rendered = from_row(conn, cfg, row(engine, row_id))
    text = email.message_from_bytes(rendered, policy=policy.default).get_body(("plain",))
    assert "COLA-FINAL" not in text.get_content()
    assert rendered.count(b"COLA-FINAL") == 1  # only inside the attached original


def test_a_database_error_while_rendering_leaves_the_row_queued(engine, monkeypatch):
    """Only a rendering error fails a row; a locked database is retried after the lease."""
    from sqlalchemy.exc import OperationalError


    ids = queue_planned(engine, outbound(), stored_case(engine))

    def locked(conn, row):
        raise OperationalError("SELECT raw FROM inbound", {}, Exception("database is locked"))

    monkeypatch.setattr(sender, "load_planned", locked)
    with pytest.raises(OperationalError):
        sender.drain(engine, outbound(), now=T0)
    ack = row(engine, ids["ack"])
    assert (ack.state, ack.raw, ack.attempts) == ("queued", None, 1)


def test_a_row_whose_rendering_keeps_killing_the_process_is_given_up(engine, smtp_receiver):
    """Every claim counts an attempt; a planned row claimed more than max_attempts times
    without ever being rendered (the process died each time) fails instead of looping."""
    cfg = outbound(smtp_receiver.url)
    ids = queue_planned(engine, cfg, stored_case(engine))
    with engine.begin() as conn:
        conn.execute(outbox_table.update().where(outbox_table.c.id == ids["ack"])
                     .values(attempts=cfg.max_attempts))
    assert sender.drain(engine, cfg, now=T0) == sender.DrainResult(sent=1, failed=1)
    ack = row(engine, ids["ack"])
    assert ack.state == "failed" and "died while rendering" in ack.last_error
