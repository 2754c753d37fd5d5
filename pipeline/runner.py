"""Runs the stages over stored messages; one bad message never stops the others.

Any exception in a stage moves the message to quarantine with the stage name and the
reason; its raw bytes stay in the inbound row, and `triaje quarantine retry` puts it back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields

from sqlalchemy import select

from pipeline import inboundstore, stages
from pipeline.errors import StageError
from pipeline.schema import inbound
from pipeline.services import Services

log = logging.getLogger("triaje.process")


@dataclass
class Summary:
    fetched: int = 0
    duplicates: int = 0
    new_tickets: int = 0
    followups: int = 0
    automatic: int = 0
    quarantined: int = 0

    def add(self, other: Summary) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def process_ids(env: Services, ids: Iterable[int], summary: Summary | None = None) -> Summary:
    summary = summary if summary is not None else Summary()
    for inbound_id in ids:
        if env.stop.is_set():  # the rest stay committed as 'fetched' for the next start
            break
        work = _load(env, inbound_id)
        if work is not None:
            _count(summary, process_one(env, work))
    return summary


def _load(env: Services, inbound_id: int) -> stages.Work | None:
    with env.engine.connect() as conn:
        row = conn.execute(select(inbound.c.raw, inbound.c.mailbox, inbound.c.state).where(
            inbound.c.id == inbound_id)).first()
    if row is None or row.state != inboundstore.FETCHED:
        return None
    return stages.Work(inbound_id, row.mailbox, bytes(row.raw))


def process_one(env: Services, work: stages.Work) -> stages.Work | None:
    name = "?"
    try:
        for name, stage in stages.READ_STAGES:  # noqa: B007 - name is read by the handler
            stage(work, env)
        with env.engine.begin() as conn:
            work.conn = conn
            for name, stage in stages.WRITE_STAGES:  # noqa: B007
                stage(work, env)
    except Exception as exc:
        _quarantine(env, work, exc.stage if isinstance(exc, StageError) else name, exc)
        return None
    finally:
        work.conn = None
    _log_done(work)
    return work


def _quarantine(env: Services, work: stages.Work, stage: str, exc: Exception) -> None:
    reason = exc.reason if isinstance(exc, StageError) else f"{type(exc).__name__}: {exc}"
    mid = work.parsed.message_id if work.parsed else None
    log.warning("mailbox=%s inbound=%d message-id=%s quarantined at %s: %s", work.mailbox,
                work.inbound_id, mid, stage, reason, exc_info=not isinstance(exc, StageError))
    inboundstore.quarantine(env.engine, work.inbound_id, stage, reason)


def _log_done(work: stages.Work) -> None:
    parsed, ticket = work.parsed, work.ticket
    labels = " ".join(f"{h}={p.label}({p.confidence:.2f})" for h, p in work.predictions.items())
    log.info("mailbox=%s inbound=%d message-id=%s %s %s%s %s", work.mailbox, work.inbound_id,
             parsed.message_id if parsed else None,
             "follow-up of" if ticket and ticket.is_followup else "new ticket",
             ticket.ref if ticket else "?",
             f" automatic ({work.verdict.reason})" if work.verdict.automatic else "", labels)


def _count(summary: Summary, work: stages.Work | None) -> None:
    if work is None:
        summary.quarantined += 1
        return
    if work.ticket and work.ticket.is_followup:
        summary.followups += 1
    else:
        summary.new_tickets += 1
    if work.verdict.automatic:
        summary.automatic += 1


def process_pending(env: Services, mailbox: str | None = None) -> Summary:
    """Messages committed but not processed (a crash in between): finish them first."""
    with env.engine.connect() as conn:
        ids = inboundstore.ids_in_state(conn, inboundstore.FETCHED, mailbox)
    return process_ids(env, ids)
