"""Mails as the production path makes them: planned, queued, then composed as the sender
does (pipeline/outbound/sender.py: load the planned row, compose it).

Tests that look at the bytes of one message's mails use `compose` or `build_mails`. The
rows live in a scratch database whose transaction is rolled back after each call, so the
planning is the caller's (with its connection, its limits) and the composing is the
sender's, from stored rows only.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from pipeline.config.outbound import OutboundConfig
from pipeline.db import open_database, utcnow
from pipeline.outbound import planner, queue
from pipeline.outbound.compose import compose as compose_bytes
from pipeline.outbound.mail import MailContext, OutgoingMail
from pipeline.outbound.materialise import load_planned
from pipeline.schema import inbound, outbox, predictions, tickets


@dataclass(frozen=True)
class Mail:
    kind: str
    recipients: tuple[str, ...]
    message_id: str
    raw: bytes
    planned: OutgoingMail  # what the processing transaction queues


@dataclass(frozen=True)
class Composed:
    mails: list[Mail]
    skipped: list[str]


def compose(cfg: OutboundConfig, ctx: MailContext, conn: Connection | None = None,
            now: datetime | None = None) -> Composed:
    """The mails one message causes (planned with `conn` when given), composed from rows."""
    drafts, skipped = planner.draft_mails(cfg, ctx, conn, now)
    planned = [planner.outgoing(cfg, ctx, d) for d in drafts]
    return Composed([Mail(p.kind, p.recipients, p.message_id, composed(cfg, ctx, p), p)
                     for p in planned], skipped)


def build_mails(cfg: OutboundConfig, ctx: MailContext,
                conn: Connection | None = None) -> list[Mail]:
    return compose(cfg, ctx, conn).mails


def planned(mails: list[Mail]) -> list[OutgoingMail]:
    return [m.planned for m in mails]


def composed(cfg: OutboundConfig, ctx: MailContext, mail: OutgoingMail) -> bytes:
    """Store the case and the planned row, then compose it exactly as the sender does."""
    with _scratch().connect() as conn:
        transaction = conn.begin()
        try:
            _store_case(conn, ctx)
            row_id = queue.enqueue(conn, [mail])[0]
            row = conn.execute(select(outbox).where(outbox.c.id == row_id)).one()
            case, draft = load_planned(conn, row)
            return compose_bytes(cfg, case, draft)
        finally:
            transaction.rollback()


def _store_case(conn: Connection, ctx: MailContext) -> None:
    now = utcnow()
    conn.execute(tickets.insert().values(
        id=ctx.ticket_id, ref=ctx.ticket_ref, mailbox=ctx.mailbox, subject="s",
        requester="r", language="es", status="open", created_at=now, updated_at=now))
    conn.execute(inbound.insert().values(
        id=ctx.inbound_id, mailbox=ctx.mailbox, folder="INBOX", dedupe_key=f"case-{ctx.inbound_id}",
        raw=ctx.raw, size=len(ctx.raw), state="processed", attempts=0, received_at=now,
        server_done=True, ticket_id=ctx.ticket_id))
    for head, guess in ctx.predictions.items():
        conn.execute(predictions.insert().values(
            inbound_id=ctx.inbound_id, head=head, label=guess.label,
            confidence=float(guess.confidence), needs_review=bool(guess.needs_review),
            model_version="test", created_at=now))


@lru_cache(maxsize=1)
def _scratch() -> Engine:
    folder = Path(tempfile.mkdtemp(prefix="triaje-compose-"))
    return open_database(f"sqlite:///{folder / 'scratch.db'}")
