"""Runs the stages over stored messages; one bad message never stops the others.

Messages go through in batches: read stages one by one, batch stages over the survivors,
then write stages one by one inside a single transaction with a savepoint per message.
Any exception moves that message to quarantine with the stage name and the reason; its
raw bytes stay in the inbound row, and `triaje quarantine retry` puts it back. A crash
before the commit leaves the whole batch 'fetched', so it is processed again: nothing
outside the database happens before the commit (mail leaves through the outbox).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields

from sqlalchemy import Connection, select

from pipeline.errors import StageError
from pipeline.monitor import counters
from pipeline.process import inboundstate, stages
from pipeline.process.work import Work
from pipeline.schema import FETCHED, inbound
from pipeline.services import Services

log = logging.getLogger("triaje.process")
BATCH = 200


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


@dataclass
class Failure:
    work: Work
    stage: str
    error: Exception


def process_ids(env: Services, ids: Iterable[int], summary: Summary | None = None) -> Summary:
    summary = summary if summary is not None else Summary()
    ids = list(ids)
    for start in range(0, len(ids), BATCH):
        if env.stop.is_set():  # the rest stay committed as 'fetched' for the next start
            break
        process_batch(env, _load(env, ids[start:start + BATCH]), summary)
    return summary


def _load(env: Services, ids: list[int]) -> list[Work]:
    with env.engine.connect() as conn:
        rows = conn.execute(select(inbound.c.id, inbound.c.raw, inbound.c.mailbox).where(
            inbound.c.id.in_(ids), inbound.c.state == FETCHED)
            .order_by(inbound.c.id)).all()
    return [Work(row.id, row.mailbox, bytes(row.raw)) for row in rows]


def process_batch(env: Services, batch: list[Work], summary: Summary) -> None:
    failures: list[Failure] = []
    alive = [w for w in batch if _run_each(env, w, stages.READ_STAGES, failures)]
    alive = _run_batch(env, alive, failures)
    done: list[Work] = []
    with env.engine.begin() as conn:
        for work in alive:
            if _write(env, conn, work, failures):
                done.append(work)
    for failure in failures:
        _quarantine(env, failure)
    counters.batch_done(done, [f.work for f in failures])
    for work in done:
        _log_done(work)
        _count(summary, work)
    summary.quarantined += len(failures)


def _run_each(env: Services, work: Work, group, failures: list[Failure]) -> bool:
    name = "?"
    try:
        for name, stage in group:  # noqa: B007 - name is read by the handler
            stage(work, env)
    except Exception as exc:
        failures.append(Failure(work, exc.stage if isinstance(exc, StageError) else name, exc))
        return False
    return True


def _run_batch(env: Services, alive: list[Work], failures: list[Failure]) -> list[Work]:
    for name, stage in stages.BATCH_STAGES:
        try:
            stage(alive, env)
        except Exception:
            alive = [w for w in alive if _run_single(env, w, name, stage, failures)]
    return alive


def _run_single(env: Services, work: Work, name: str, stage, failures) -> bool:
    try:
        stage([work], env)
    except Exception as exc:
        failures.append(Failure(work, name, exc))
        return False
    return True


def _write(env: Services, conn: Connection, work: Work, failures: list[Failure]) -> bool:
    savepoint = conn.begin_nested()
    work.conn = conn
    try:
        ok = _run_each(env, work, stages.WRITE_STAGES, failures)
    finally:
        work.conn = None
    if ok:
        savepoint.commit()
    else:
        savepoint.rollback()
    return ok


def _quarantine(env: Services, failure: Failure) -> None:
    work, exc = failure.work, failure.error
    reason = exc.reason if isinstance(exc, StageError) else f"{type(exc).__name__}: {exc}"
    mid = work.parsed.message_id if work.parsed else None
    log.warning("mailbox=%s inbound=%d message-id=%s quarantined at %s: %s", work.mailbox,
                work.inbound_id, mid, failure.stage, reason,
                exc_info=(type(exc), exc, exc.__traceback__) if not isinstance(exc, StageError) else None)
    inboundstate.quarantine(env.engine, work.inbound_id, failure.stage, reason)


def _log_done(work: Work) -> None:
    parsed, ticket = work.parsed, work.ticket
    labels = " ".join(f"{h}={p.label}({p.confidence:.2f})" for h, p in work.predictions.items())
    log.info("mailbox=%s inbound=%d message-id=%s %s %s%s %s", work.mailbox, work.inbound_id,
             parsed.message_id if parsed else None,
             "follow-up of" if ticket and ticket.is_followup else "new ticket",
             ticket.ref if ticket else "?",
             f" automatic ({work.verdict.reason})" if work.verdict.automatic else "", labels)


def _count(summary: Summary, work: Work) -> None:
    if work.ticket and work.ticket.is_followup:
        summary.followups += 1
    else:
        summary.new_tickets += 1
    if work.verdict.automatic:
        summary.automatic += 1


def process_pending(env: Services, mailbox: str | None = None) -> Summary:
    """Messages committed but not processed (a crash in between): finish them first."""
    with env.engine.connect() as conn:
        ids = inboundstate.ids_in_state(conn, FETCHED, mailbox)
    return process_ids(env, ids)
