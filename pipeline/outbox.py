"""The outbox: outgoing mail queued with its ticket, then drained to SMTP (or to files).

Rows are written inside the caller's transaction, so a ticket and its mails exist together
or not at all. The sender claims one due row at a time (attempts + 1, a lease on
`next_attempt_at`), sends the stored bytes unchanged, and marks the row sent right after the
server accepted it. A kill between send and mark means one resend with the same Message-ID
after the lease, never a lost mail.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Engine, func, select, update

from pipeline.config_outbound import OutboundConfig
from pipeline.db import utcnow
from pipeline.emlfiles import FileTransport
from pipeline.schema import inbound, outbox
from pipeline.sentjournal import SentJournal
from pipeline.smtpsend import SendFailure, SmtpTransport, describe

if TYPE_CHECKING:
    from pipeline.compose import OutgoingMail

log = logging.getLogger(__name__)

STATES = ("queued", "sent", "failed")
USER_KINDS = ("ack", "followup")
TEAM_KINDS = ("route", "triage", "forward")
LEASE = timedelta(minutes=10)
BATCH = 200
LIST_COLUMNS = [c for c in outbox.c if c.name != "raw"]


class Transport(Protocol):
    name: str

    def send(self, raw: bytes, sender: str, recipients: list[str],
             message_id: str) -> dict[str, str]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class DrainResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Enqueued:
    ids: list[int]
    skipped: list[str]


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def enqueue(conn: Connection, mails: list[OutgoingMail]) -> list[int]:
    """Queue mails in the caller's open transaction (no commit); returns the new row ids."""
    return enqueue_detailed(conn, mails).ids


def enqueue_detailed(conn: Connection, mails: list[OutgoingMail],
                     now: datetime | None = None) -> Enqueued:
    """Like `enqueue`, also saying which mails were not queued and why (each is logged)."""
    now = as_utc(now or utcnow())
    ids: list[int] = []
    skipped: list[str] = []
    for mail in mails:
        reason = _refusal(conn, mail, now)
        if reason:
            log.warning("not queued: %s %s to %s: %s", mail.kind, mail.message_id,
                        ",".join(mail.recipients), reason)
            skipped.append(f"{mail.kind} {mail.message_id}: {reason}")
            continue
        ids.append(_insert(conn, mail, now))
    return Enqueued(ids, skipped)


def _refusal(conn: Connection, mail: OutgoingMail, now: datetime) -> str | None:
    if mail.inbound_id is not None and _exists(conn, mail.inbound_id, mail.kind):
        return f"message {mail.inbound_id} already has a queued {mail.kind}"
    if mail.recipient_limit is not None:
        for address in mail.recipients:
            reason = limit_reason(conn, address, mail.recipient_limit, now)
            if reason:
                return reason
    return None


def _exists(conn: Connection, inbound_id: int, kind: str) -> bool:
    query = select(outbox.c.id).where(outbox.c.inbound_id == inbound_id, outbox.c.kind == kind)
    return conn.execute(query.limit(1)).first() is not None


def limit_reason(conn: Connection, address: str, limit: tuple[int, int],
                 now: datetime) -> str | None:
    """Why `address` may get no more user mails now (the per-recipient limit), or None."""
    most, window = limit
    since = as_utc(now) - timedelta(seconds=window)
    query = select(func.count()).select_from(outbox).where(
        outbox.c.kind.in_(USER_KINDS), outbox.c.recipients == address,
        outbox.c.created_at >= since)
    count = conn.execute(query).scalar_one()
    if count >= most:
        return f"{address} already got {count} mails from us in the last {window} s (limit {most})"
    return None


def automatic_team_reason(conn: Connection, sender: str, limit: tuple[int, int],
                          now: datetime) -> str | None:
    """Why automatic mail from `sender` may cause no more team mail now, or None."""
    most, window = limit
    since = as_utc(now) - timedelta(seconds=window)
    query = select(func.count()).select_from(
        outbox.join(inbound, outbox.c.inbound_id == inbound.c.id)).where(
        outbox.c.kind.in_(TEAM_KINDS), inbound.c.sender == sender,
        inbound.c.automatic.is_(True), outbox.c.created_at >= since)
    count = conn.execute(query).scalar_one()
    if count >= most:
        return (f"automatic mail from {sender or '(no sender)'} already caused {count} team mails "
                f"in the last {window} s (limit {most})")
    return None


def _insert(conn: Connection, mail: OutgoingMail, now: datetime) -> int:
    values = {
        "ticket_id": mail.ticket_id, "inbound_id": mail.inbound_id, "kind": mail.kind,
        "recipients": ",".join(mail.recipients), "message_id": mail.message_id,
        "raw": mail.raw, "plan": mail.plan, "state": "queued", "attempts": 0, "next_attempt_at": now,
        "created_at": now,
    }
    return conn.execute(outbox.insert(), values).inserted_primary_key[0]


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
          stop: threading.Event | None = None) -> DrainResult:
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
    try:
        while _drain_batch(engine, outbound_cfg, _Sending(transport, journal), cutoff, clock,
                           counts, stop):
            pass
    finally:
        transport.close()
    return DrainResult(**counts)


@dataclass(frozen=True)
class _Sending:
    transport: Transport
    journal: SentJournal


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
        row = _claim(engine, row_id, now, timedelta(seconds=cfg.outbox.lease))
        if row is None:
            continue
        if row.raw is None:
            row = _materialise(engine, cfg, row)
            if row is None:
                counts["failed"] += 1
                continue
        outcome, server_down = _deliver(engine, cfg, sending, row, now)
        counts[outcome] += 1
        if server_down:
            return False
    return len(due) == BATCH


def _due_ids(engine: Engine, now: datetime) -> list[int]:
    query = (select(outbox.c.id).where(outbox.c.state == "queued", outbox.c.next_attempt_at <= now)
             .order_by(outbox.c.next_attempt_at, outbox.c.id).limit(BATCH))
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def _claim(engine: Engine, row_id: int, now: datetime, lease: timedelta = LEASE) -> Any:
    """Take one due row: a second sender (or a later run) will not touch it for the lease
    (`[outbox] lease`, default LEASE); a crash between claim and mark waits that long."""
    with engine.begin() as conn:
        claimed = conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.state == "queued",
                   outbox.c.next_attempt_at <= now)
            .values(attempts=outbox.c.attempts + 1, next_attempt_at=now + lease))
        if claimed.rowcount != 1:
            return None
        return conn.execute(select(outbox).where(outbox.c.id == row_id)).one()


def _materialise(engine: Engine, cfg: OutboundConfig, row: Any) -> Any:
    """Render a planned row and store its bytes before the first attempt, so a retry or a
    resend after a crash repeats exactly these bytes. A mail that cannot be rendered (a
    broken site template) fails visibly; `triaje outbox retry` renders it again. A database
    error is no rendering error: it propagates and the row is retried after its lease."""
    from pipeline.compose import render_draft  # compose -> outbox: imported at use
    from pipeline.deferred import load_planned

    if row.attempts > cfg.max_attempts:  # each claim counts: a render that kills the
        return _give_up(engine, row, "the process died while rendering it")  # process
    with engine.connect() as conn:
        ctx, draft = load_planned(conn, row)
    try:
        raw = render_draft(cfg, ctx, draft)
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
        refused = transport.send(row.raw, cfg.from_address, recipients, row.message_id)
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


def _mark_sent(engine: Engine, row: Any, refused: dict[str, str], now: datetime) -> None:
    note = "refused: " + "; ".join(f"{k}: {v}" for k, v in refused.items()) if refused else None
    if note:
        log.warning("outbox %s %s: %s", row.id, row.message_id, note)
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == row.id)
                     .values(state="sent", sent_at=now, last_error=note))


def backoff(cfg: OutboundConfig, attempts: int) -> timedelta:
    """30 s, 60 s, 120 s, ... capped at retry_max (defaults: doubling up to one hour)."""
    base, cap = cfg.outbox.retry_base, cfg.outbox.retry_max
    return timedelta(seconds=min(cap, base * 2 ** min(max(attempts - 1, 0), 30)))


def _record_failure(engine: Engine, cfg: OutboundConfig, row: Any, exc: SendFailure,
                    now: datetime) -> str:
    give_up = exc.permanent or row.attempts >= cfg.max_attempts
    values: dict[str, Any] = {"last_error": str(exc)}
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


def list_rows(engine: Engine, state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first, without the message bytes."""
    query = select(*LIST_COLUMNS).order_by(outbox.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(outbox.c.state == state)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def retry(engine: Engine, ids: list[int] | None = None, now: datetime | None = None) -> int:
    """Put failed rows back in the queue (all of them when `ids` is None), due at once."""
    now = as_utc(now or utcnow())
    query = update(outbox).where(outbox.c.state == "failed")
    if ids is not None:
        query = query.where(outbox.c.id.in_(ids))
    with engine.begin() as conn:
        result = conn.execute(query.values(state="queued", attempts=0, next_attempt_at=now))
    return result.rowcount
