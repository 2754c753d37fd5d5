"""Runs the stages over stored messages; one bad message never stops the others.

Messages go through in batches: read stages one by one, batch stages over the survivors,
then write stages one by one inside a single transaction with a savepoint per message.
Any exception moves that message to quarantine with the stage name and the reason; its
raw bytes stay in the inbound row, and `triaje quarantine retry` puts it back. A crash
before the commit leaves the batch claimed until its lease ends (or a restart on the same
host takes it back), so it is processed again: nothing outside the database happens
before the commit (mail leaves through the outbox).

Every batch is claimed first (inboundstate.claim), so any number of daemons, `poll --once`
and `quarantine retry` can run side by side: each row is processed by the one worker
that holds it, and the writes of a worker that lost its claim are rolled back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields

from sqlalchemy import Connection, select

from pipeline.errors import StageError
from pipeline.monitor import counters
from pipeline.process import batchwrite, inboundstate, stages
from pipeline.process.work import Work
from pipeline.schema import PROCESSING, inbound
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
    """These rows, those still waiting: another worker may have taken some already."""
    summary = summary if summary is not None else Summary()
    ids = list(ids)
    for start in range(0, len(ids), BATCH):
        if env.stop.is_set():  # the rest stay committed as 'fetched' for the next start
            break
        process_claimed(env, inboundstate.claim(env.engine, env.instance, BATCH,
                                                ids=ids[start:start + BATCH]), summary)
    return summary


def process_claimed(env: Services, ids: list[int], summary: Summary) -> None:
    """Rows this instance claimed, the claim renewed while they are processed; what is left
    unprocessed (an error outside the stages, a database outage) is given back at once
    rather than at the end of the lease."""
    try:
        with inboundstate.renewing(env.engine, env.instance, ids):
            process_batch(env, _load(env, ids), summary)
    finally:
        inboundstate.release(env.engine, env.instance, ids)


def _load(env: Services, ids: list[int]) -> list[Work]:
    with env.engine.connect() as conn:
        rows = conn.execute(select(inbound.c.id, inbound.c.raw, inbound.c.mailbox).where(
            inbound.c.id.in_(ids), inbound.c.state == PROCESSING,
            inbound.c.claimed_by == env.instance).order_by(inbound.c.id)).all()
    return [Work(row.id, row.mailbox, bytes(row.raw)) for row in rows]


def process_batch(env: Services, batch: list[Work], summary: Summary) -> None:
    failures: list[Failure] = []
    alive = [w for w in batch if _run_each(env, w, stages.READ_STAGES, failures)]
    alive = _run_batch(env, alive, failures)
    started = time.perf_counter()
    done = _write_all(env, alive, failures)
    log.info("batch of %d: write stages %.1f ms", len(alive), (time.perf_counter() - started) * 1e3)
    summary.quarantined += sum(_quarantine(env, failure) for failure in failures)
    counters.batch_done(done, [f.work for f in failures])
    for work in done:
        _log_done(work)
        _count(summary, work)


def _write_all(env: Services, alive: list[Work], failures: list[Failure]) -> list[Work]:
    """The write stages of the batch in one transaction: set-based when it can, else (a
    database error, anything unusual) a savepoint per message, so a bad one is isolated."""
    with env.engine.begin() as conn:
        held = inboundstate.hold(conn, env.instance, [w.inbound_id for w in alive])
        for work in alive:
            if work.inbound_id not in held:
                log.info("inbound=%d taken over by another worker; left to it", work.inbound_id)
        mine = [w for w in alive if w.inbound_id in held]
        if _write_fast(env, conn, mine):
            return mine
        return [work for work in mine if _write(env, conn, work, failures)]


def _write_fast(env: Services, conn: Connection, batch: list[Work]) -> bool:
    verdicts = [work.verdict for work in batch]
    savepoint = conn.begin_nested()
    try:
        batchwrite.write(conn, env, batch)
    except Exception as exc:
        savepoint.rollback()
        for work, verdict in zip(batch, verdicts, strict=True):
            work.verdict, work.ticket, work.correction = verdict, None, None
        log.log(logging.INFO if isinstance(exc, batchwrite.OneByOne) else logging.WARNING,
                "batch of %d written one message at a time: %s: %s", len(batch),
                type(exc).__name__, exc)
        return False
    savepoint.commit()
    return True


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


def _quarantine(env: Services, failure: Failure) -> bool:
    work, exc = failure.work, failure.error
    reason = exc.reason if isinstance(exc, StageError) else f"{type(exc).__name__}: {exc}"
    if not inboundstate.quarantine(env.engine, work.inbound_id, failure.stage, reason,
                                   env.instance):
        log.info("inbound=%d taken over by another worker; not quarantined here", work.inbound_id)
        return False
    mid = work.parsed.message_id if work.parsed else None
    log.warning("mailbox=%s inbound=%d message-id=%s quarantined at %s: %s", work.mailbox,
                work.inbound_id, mid, failure.stage, reason,
                exc_info=(type(exc), exc, exc.__traceback__) if not isinstance(exc, StageError) else None)
    return True


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
    """Messages committed but not processed (a crash in between, or another fetcher's):
    claimed a batch at a time until none waits."""
    summary = Summary()
    while not env.stop.is_set():
        ids = inboundstate.claim(env.engine, env.instance, BATCH, mailbox=mailbox)
        if not ids:
            break
        process_claimed(env, ids, summary)
    return summary
