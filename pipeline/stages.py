"""The pipeline as data: an ordered list of stage names, each a small function.

Stages never call each other. The first group only reads the database, so the write
transaction of the second group stays short; the second group runs inside one
transaction, so a ticket, its predictions and its outgoing mail exist together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, update

from pipeline import guard, parse, thread
from pipeline.db import utcnow
from pipeline.errors import StageError
from pipeline.schema import inbound, predictions
from pipeline.services import Services


@dataclass
class Work:
    """What the stages learn about one inbound message, filled in as they run."""

    inbound_id: int
    mailbox: str
    raw: bytes
    parsed: parse.ParsedMessage | None = None
    verdict: guard.Verdict = guard.ANSWERABLE
    predictions: dict[str, Any] = field(default_factory=dict)
    ticket: thread.TicketRef | None = None
    conn: Connection | None = None


Stage = Callable[[Work, Services], None]


def stage_parse(work: Work, env: Services) -> None:
    work.parsed = parse.parse_message(work.raw, env.config.desk.max_message_bytes)


def stage_guard(work: Work, env: Services) -> None:
    desk = env.config.desk
    with env.engine.connect() as conn:
        work.verdict = guard.check(conn, _parsed(work), env.own_addresses, desk.sender_limit,
                                   desk.sender_window)


def stage_classify(work: Work, env: Services) -> None:
    if env.model is None:
        return
    parsed = _parsed(work)
    work.predictions = env.model.predict([parsed.subject], [parsed.clean_text])[0]


def stage_thread(work: Work, env: Services) -> None:
    work.ticket = thread.attach(_conn(work), _parsed(work), work.mailbox,
                                env.config.desk.ticket_prefix)


def stage_register(work: Work, env: Services) -> None:
    parsed, conn, ticket, now = _parsed(work), _conn(work), work.ticket, utcnow()
    if ticket is None:
        raise StageError("register", "no ticket was assigned")
    conn.execute(update(inbound).where(inbound.c.id == work.inbound_id).values(
        state="processed", stage=None, reason=None, processed_at=now, ticket_id=ticket.id,
        is_followup=ticket.is_followup, automatic=work.verdict.automatic,
        auto_reason=work.verdict.reason, sender=parsed.from_addr, subject=parsed.subject[:2000],
        language=parsed.language, body_text=parsed.clean_text[:100_000],
        notes="\n".join(parsed.notes) or None))
    version = env.model.version if env.model is not None else ""
    for head, pred in work.predictions.items():
        conn.execute(predictions.insert().values(
            inbound_id=work.inbound_id, head=head, label=pred.label,
            confidence=float(pred.confidence), needs_review=bool(pred.needs_review),
            model_version=version, created_at=now))


def _parsed(work: Work) -> parse.ParsedMessage:
    if work.parsed is None:
        raise StageError("pipeline", "stage ran before parse")
    return work.parsed


def _conn(work: Work) -> Connection:
    if work.conn is None:
        raise StageError("pipeline", "stage needs the transaction")
    return work.conn


READ_STAGES: tuple[tuple[str, Stage], ...] = (
    ("parse", stage_parse), ("guard", stage_guard), ("classify", stage_classify))
WRITE_STAGES: tuple[tuple[str, Stage], ...] = (
    ("thread", stage_thread), ("register", stage_register))
