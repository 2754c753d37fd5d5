"""The sender: drains the outbox to SMTP (or to files), one claimed row at a time.

It claims a due row (attempts + 1, a lease on `next_attempt_at`, its instance id in
`claimed_by`), composes it if it was only planned, sends the stored bytes unchanged, and
marks the row sent right after the server accepted it. The lease is short (`[outbox]
lease`, 30 s) and renewed every third of it while the row is in hand, so a slow SMTP server
never lets another sender take a mail still being sent, while a dead sender's mail is
taken over within the lease. A kill between send and mark means one resend with the same
Message-ID after the lease, never a lost mail; the sent journal closes most of that window.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import Engine, select, update

from pipeline import instance, leases
from pipeline.backoff import delay
from pipeline.config.outbound import OutboundConfig
from pipeline.db import as_utc, utcnow
from pipeline.monitor import counters
from pipeline.outbound.compose import compose
from pipeline.outbound.emlfiles import FileTransport
from pipeline.outbound.materialise import load_planned
from pipeline.outbound.sentjournal import SentJournal, TableJournal
from pipeline.outbound.smtpsend import SendFailure, SmtpTransport, describe
from pipeline.schema import inbound, outbox

log = logging.getLogger("triaje.outbox")

LEASE = timedelta(seconds=30)
BATCH = 200


class Transport(Protocol):
    name: str

    def send(self, raw: bytes, sender: str, recipients: list[str], message_id: str,
             label: str | None = None) -> dict[str, str]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class DrainResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0


class _FaultLog:
    """Remembers which destinations are failing, so an outage is one log line, not hundreds."""

    def __init__(self) -> None:
        self.active: dict[str, str] = {}

    def begin(self, key: str, problem: str) -> None:
        if key not in self.active:
            log.warning("outbox: %s: %s (mails stay queued and are retried)", key, problem)
        self.active[key] = problem

    def end(self, key: str) -> None:
        if self.active.pop(key, None) is not None:
            log.warning("outbox: %s works again", key)


faults = _FaultLog()


def transport_for(cfg: OutboundConfig) -> Transport | None:
    if cfg.smtp is not None:
        return SmtpTransport(cfg.smtp)
    if cfg.outbox.directory:
        return FileTransport(cfg.outbox.directory)
    return None


def drain(engine: Engine, outbound_cfg: OutboundConfig, now: datetime | None = None,
          stop: threading.Event | None = None, owner: str | None = None) -> DrainResult:
    """Deliver every row that is due; stops early when the server itself is unreachable,
    or between two rows once `stop` is set (the daemon is shutting down).

    Rows due at the start are handled (that bound ends the loop); leases, backoffs and
    `sent_at` use the time of each row, since draining a backlog can outlast a lease.
    A given `now` (tests, replays) stands for every moment of the drain."""
    cutoff = as_utc(now or utcnow())
    clock = (lambda: cutoff) if now is not None else (lambda: as_utc(utcnow()))
    journal = SentJournal.for_engine(engine)
    journal.apply(engine)  # mails accepted before a crash: marked, not sent again
    transport = transport_for(outbound_cfg)
    if transport is None:
        faults.begin("outbox", "neither [smtp] nor [outbox] directory is configured")
        return DrainResult()
    counts = {"sent": 0, "retried": 0, "failed": 0}
    owner = owner or instance.new_id()  # a claim always names its holder: renewals need it
    try:
        while _drain_batch(engine, outbound_cfg, _Sending(transport, journal, owner), cutoff,
                           clock, counts, stop):
            pass
    finally:
        transport.close()
    return DrainResult(**counts)


@dataclass(frozen=True)
class _Sending:
    transport: Transport
    journal: SentJournal | TableJournal
    owner: str | None = None  # the instance id the claims name (pipeline/instance.py)


def _drain_batch(engine: Engine, cfg: OutboundConfig, sending: _Sending, cutoff: datetime,
                 clock: Callable[[], datetime], counts: dict[str, int],
                 stop: threading.Event | None) -> bool:
    """One batch of rows due at `cutoff`; True when another batch may be due. Every row
    handled here leaves that due set (sent, failed, backed off or leased), so the loop ends."""
    due = _due_ids(engine, cutoff)
    for row_id in due:
        if stop is not None and stop.is_set():
            return False
        now = clock()
        lease = timedelta(seconds=cfg.outbox.lease)
        row = _claim(engine, row_id, now, lease, sending.owner)
        if row is None:
            continue
        with leases.Renewing(partial(_renew, engine, row_id, sending.owner, lease),
                             lease.total_seconds() / 3, "outbox claim"):
            outcome, server_down = _send_claimed(engine, cfg, sending, row, now)
        counts[outcome] += 1
        if server_down:
            return False
    return len(due) == BATCH


def _send_claimed(engine: Engine, cfg: OutboundConfig, sending: _Sending, row: Any,
                  now: datetime) -> tuple[str, bool]:
    if row.raw is None:
        row = _materialise(engine, cfg, row)
        if row is None:
            return "failed", False
    return _deliver(engine, cfg, sending, row, now)


def _due_ids(engine: Engine, now: datetime) -> list[int]:
    query = (select(outbox.c.id).where(outbox.c.state == "queued", outbox.c.next_attempt_at <= now)
             .order_by(outbox.c.next_attempt_at, outbox.c.id).limit(BATCH))
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def _claim(engine: Engine, row_id: int, now: datetime, lease: timedelta = LEASE,
           owner: str | None = None) -> Any:
    """Take one due row: a second sender (or a later run) will not touch it for the lease
    (`[outbox] lease`, default LEASE, renewed while we send); a crash between claim and
    mark waits that long, unless the daemon restarts on the same host (take_back_dead:
    the claim names `owner`)."""
    with engine.begin() as conn:
        claimed = conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.state == "queued",
                   outbox.c.next_attempt_at <= now)
            .values(attempts=outbox.c.attempts + 1, next_attempt_at=now + lease,
                    claimed_by=owner))
        if claimed.rowcount != 1:
            return None
        return conn.execute(select(outbox).where(outbox.c.id == row_id)).one()


def _renew(engine: Engine, row_id: int, owner: str | None, lease: timedelta) -> None:
    """Keep the row in hand ours; conditional on the owner, so a row taken over, marked
    sent or put in backoff (which clears the owner) is left as it is."""
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == row_id, outbox.c.state == "queued",
                                          outbox.c.claimed_by == owner)
                     .values(next_attempt_at=utcnow() + lease))


def _materialise(engine: Engine, cfg: OutboundConfig, row: Any) -> Any:
    """Compose a planned row and store its bytes before the first attempt, so a retry or a
    resend after a crash repeats exactly these bytes. A mail that cannot be composed (a
    broken site template) fails visibly; `triaje outbox retry` composes it again. A database
    error is no composing error: it propagates and the row is retried after its lease."""
    if row.attempts > cfg.max_attempts:  # each claim counts: a render that kills the
        return _give_up(engine, row, "the process died while rendering it")  # process
    with engine.connect() as conn:
        ctx, draft = load_planned(conn, row)
    try:
        raw = compose(cfg, ctx, draft)
    except Exception as exc:
        log.exception("outbox %s %s: cannot render the mail", row.id, row.message_id)
        return _give_up(engine, row, describe(exc))
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == row.id, outbox.c.raw.is_(None))
                     .values(raw=raw))
        return conn.execute(select(outbox).where(outbox.c.id == row.id)).one()


def _give_up(engine: Engine, row: Any, why: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == row.id).values(
            state="failed", last_error=f"cannot render: {why}"))


def _deliver(engine: Engine, cfg: OutboundConfig, sending: _Sending, row: Any,
             now: datetime) -> tuple[str, bool]:
    """Send one claimed row; returns the outcome and whether the batch must stop."""
    recipients = [r for r in row.recipients.split(",") if r]
    transport = sending.transport
    try:
        refused = transport.send(row.raw, cfg.from_address, recipients, row.message_id,
                                 _label(row))
    except SendFailure as exc:
        failure = exc
    except Exception as exc:  # a bug must not wedge the queue: retried, then failed, visibly
        log.exception("outbox %s %s: unexpected error while sending", row.id, row.message_id)
        transport.close()
        failure = SendFailure(describe(exc), server=False)
    else:
        sending.journal.record(row.id, row.message_id)  # before the mark may wait for a lock
        faults.end(transport.name)
        _mark_sent(engine, row, refused, now)
        return "sent", False
    if failure.server:
        faults.begin(transport.name, str(failure))
    return _record_failure(engine, cfg, row, failure, now), failure.server


def _label(row: Any) -> str | None:
    """`SD-000014-ack`: what the mail is, for a person looking at written files."""
    try:
        ref = json.loads(row.plan)["ticket_ref"] if row.plan else None
    except (ValueError, KeyError, TypeError):
        ref = None
    return f"{ref}-{row.kind}" if ref else None


def _mark_sent(engine: Engine, row: Any, refused: dict[str, str], now: datetime) -> None:
    note = "refused: " + "; ".join(f"{k}: {v}" for k, v in refused.items()) if refused else None
    if note:
        log.warning("outbox %s %s: %s", row.id, row.message_id, note)
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == row.id)
                     .values(state="sent", sent_at=now, last_error=note))
        arrived = conn.execute(select(inbound.c.received_at).where(
            inbound.c.id == row.inbound_id)).scalar() if row.kind == "ack" else None
    counters.sent(row.kind, (now - as_utc(arrived)).total_seconds() if arrived else None)


def backoff(cfg: OutboundConfig, attempts: int) -> timedelta:
    """30 s, 60 s, 120 s, ... capped at retry_max (defaults: doubling up to one hour)."""
    return timedelta(seconds=delay(attempts - 1, cfg.outbox.retry_base, cfg.outbox.retry_max))


def _record_failure(engine: Engine, cfg: OutboundConfig, row: Any, exc: SendFailure,
                    now: datetime) -> str:
    give_up = exc.permanent or row.attempts >= cfg.max_attempts
    values: dict[str, Any] = {"last_error": str(exc), "claimed_by": None}  # a backoff, no claim
    if give_up:
        values["state"] = "failed"
        log.error("outbox %s %s to %s failed after %d attempt(s): %s", row.id, row.message_id,
                  row.recipients, row.attempts, exc)
    else:
        values["next_attempt_at"] = now + backoff(cfg, row.attempts)
        if not exc.server and row.attempts == 1:
            log.warning("outbox %s %s to %s not accepted, will retry: %s", row.id,
                        row.message_id, row.recipients, exc)
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == row.id).values(**values))
    return "failed" if give_up else "retried"


def take_back_dead(engine: Engine, me: str) -> int:
    """Rows claimed by a dead predecessor on this host are due now, not after the lease."""
    with engine.connect() as conn:
        owners = set(conn.execute(select(outbox.c.claimed_by).distinct().where(
            outbox.c.state == "queued", outbox.c.claimed_by.is_not(None))).scalars())
    dead = [o for o in owners if instance.is_dead(o, me)]
    if not dead:
        return 0
    with engine.begin() as conn:
        return conn.execute(update(outbox).where(
            outbox.c.state == "queued", outbox.c.claimed_by.in_(dead))
            .values(next_attempt_at=utcnow(), claimed_by=None)).rowcount
