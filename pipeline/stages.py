"""The pipeline as data: ordered lists of stage names, each a small function.

Stages never call each other. The runner takes a batch of stored messages through three
groups: READ_STAGES per message (no database writes), BATCH_STAGES over the whole batch
(the classifier is far faster on a batch), then WRITE_STAGES per message inside the
batch's transaction, each message in its own savepoint, so a ticket, its predictions and
its outgoing mail exist together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, update

from pipeline import audit, compose, corrections, guard, outbox, ownmail, parse, thread
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
    handled: str | None = None  # set by a stage that finished the message, e.g. "correction"


# The text classified is the text stored: retraining reads the stored rows, and a 25 MB
# body would otherwise cost the classifier gigabytes for one message.
SUBJECT_LIMIT = 2000
BODY_LIMIT = 100_000

Stage = Callable[[Work, Services], None]
BatchStage = Callable[[list[Work], Services], None]


def stage_parse(work: Work, env: Services) -> None:
    work.parsed = parse.parse_message(work.raw, env.config.desk.max_message_bytes)


def stage_guard(work: Work, env: Services) -> None:
    work.verdict = guard.check_headers(_parsed(work), env.own_addresses)


def stage_classify(batch: list[Work], env: Services) -> None:
    if env.model is None or not batch:
        return
    parsed = [_parsed(work) for work in batch]
    results = env.model.predict([p.subject[:SUBJECT_LIMIT] for p in parsed],
                                [p.clean_text[:BODY_LIMIT] for p in parsed])
    for work, result in zip(batch, results, strict=True):
        work.predictions = result


def stage_history(work: Work, env: Services) -> None:
    if not work.verdict.automatic:
        desk = env.config.desk
        work.verdict = guard.check_history(_conn(work), _parsed(work), desk.sender_limit,
                                           desk.sender_window)


def stage_thread(work: Work, env: Services) -> None:
    work.ticket = thread.attach(_conn(work), _parsed(work), work.mailbox,
                                env.config.desk.ticket_prefix)


def stage_register(work: Work, env: Services) -> None:
    parsed, conn, ticket, now = _parsed(work), _conn(work), work.ticket, utcnow()
    if ticket is None:
        raise StageError("register", "no ticket was assigned")
    conn.execute(_REGISTER, {
        "row_id": work.inbound_id, "state": "processed", "stage": None, "reason": None,
        "processed_at": now, "ticket_id": ticket.id, "is_followup": ticket.is_followup,
        "automatic": work.verdict.automatic, "auto_reason": work.verdict.reason,
        "sender": parsed.from_addr, "subject": parsed.subject[:SUBJECT_LIMIT],
        "language": parsed.language, "body_text": parsed.clean_text[:BODY_LIMIT],
        "notes": "\n".join(parsed.notes) or None})
    version = env.model.version if env.model is not None else ""
    if work.predictions:
        conn.execute(predictions.insert(), [
            {"inbound_id": work.inbound_id, "head": head, "label": pred.label,
             "confidence": float(pred.confidence), "needs_review": bool(pred.needs_review),
             "model_version": version, "created_at": now}
            for head, pred in work.predictions.items()])


# Built once: composing a statement costs more than running it (measured with cProfile).
_REGISTER = update(inbound).where(inbound.c.id == bindparam("row_id"))


def stage_outbound(work: Work, env: Services) -> None:
    """Queue the ack and the team mail in this transaction: sent only if it commits. They are
    planned here and rendered by the sender (pipeline/deferred.py)."""
    ticket, conn = work.ticket, _conn(work)
    if ticket is None:
        raise StageError("outbound", "no ticket was assigned")
    owner = ownmail.owner_team(conn, ticket.id) if ticket.is_followup else ()
    ctx = compose.MailContext(
        ticket_ref=ticket.ref, ticket_id=ticket.id, inbound_id=work.inbound_id,
        is_followup=ticket.is_followup, automatic=work.verdict.automatic, parsed=_parsed(work),
        raw=work.raw, predictions=work.predictions, mailbox=work.mailbox, received_at=utcnow(),
        owner_team=owner)
    outbox.enqueue(conn, compose.plan_mails(env.config.outbound, ctx, conn,
                                            env.config.desk.max_message_bytes))


def _parsed(work: Work) -> parse.ParsedMessage:
    if work.parsed is None:
        raise StageError("pipeline", "stage ran before parse")
    return work.parsed


def _conn(work: Work) -> Connection:
    if work.conn is None:
        raise StageError("pipeline", "stage needs the transaction")
    return work.conn


def unless_handled(stage: Stage) -> Stage:
    """A stage that does nothing once an earlier one finished the message (a correction)."""
    def run(work: Work, env: Services) -> None:
        if work.handled is None:
            stage(work, env)
    return run


READ_STAGES: tuple[tuple[str, Stage], ...] = (("parse", stage_parse), ("guard", stage_guard))
BATCH_STAGES: tuple[tuple[str, BatchStage], ...] = (("classify", stage_classify),)
WRITE_STAGES: tuple[tuple[str, Stage], ...] = (
    ("guard", stage_history), ("correction", corrections.stage_correction),
    ("thread", unless_handled(stage_thread)), ("register", unless_handled(stage_register)),
    ("audit", audit.stage_audit), ("outbound", unless_handled(stage_outbound)))
