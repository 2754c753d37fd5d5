"""What the write stages read, asked once per batch and kept current while the batch runs.

The per-message stages ask the database a dozen questions per mail (is this Message-ID
one of ours, how many mails came from this sender, which ticket does it follow up, how
many mails did this address get). The batch writer (batchwrite.py) asks each question
once for the whole batch here; the answers for a later message of the batch then come
from these sets, updated as each earlier message is written in memory, so a message sees
the ones before it exactly as it does when each is written in its own savepoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from pipeline.addresses import normalise
from pipeline.outbound.mail import TEAM_KINDS, USER_KINDS
from pipeline.process import ownmail
from pipeline.process.work import Work
from pipeline.schema import PROCESSED, audit_sample, inbound, outbox, tickets


@dataclass
class Facts:
    now: datetime
    stored: dict[int, Any] = field(default_factory=dict)  # inbound id -> (message_id, received_at)
    our_ids: set[str] = field(default_factory=set)  # Message-IDs of the batch that we sent
    from_sender: Counter[str] = field(default_factory=Counter)  # processed, in the window
    thread_of: dict[str, Any] = field(default_factory=dict)  # Message-ID -> ticket (received)
    sent_in: dict[str, int] = field(default_factory=dict)  # Message-ID -> ticket (sent by us)
    on_ticket: set[tuple[int, str]] = field(default_factory=set)  # (ticket id, stored sender)
    refs: dict[int, str] = field(default_factory=dict)  # ticket id -> ref
    last_ticket: int = 0  # the highest ticket id before this batch: new ones are higher
    doubts: list[tuple[Work, int]] = field(default_factory=list)  # a tag maybe on a new ticket
    audited: set[int] = field(default_factory=set)
    queued: set[tuple[int, str]] = field(default_factory=set)  # (inbound id, kind)
    user_mails: Counter[str] = field(default_factory=Counter)  # recipient -> user mails
    automatic_team: Counter[str] = field(default_factory=Counter)  # stored sender -> team mails
    owner: dict[int, tuple[str, ...]] = field(default_factory=dict)  # ticket -> latest team


def since(now: datetime, seconds: int) -> datetime:
    return now - timedelta(seconds=seconds)


def gather(conn: Connection, batch: list[Work], now: datetime, sender_window: int,
           recipient_window: int, tags: Iterable[int]) -> Facts:
    """Everything the history and thread stages read, for the whole batch."""
    facts = Facts(now)
    ids = [w.inbound_id for w in batch]
    facts.stored = {r.id: r for r in conn.execute(select(
        inbound.c.id, inbound.c.message_id, inbound.c.received_at).where(inbound.c.id.in_(ids)))}
    _history(conn, facts, batch, sender_window)
    _threads(conn, facts, batch, set(tags))
    _plans(conn, facts, batch, ids, recipient_window)
    return facts


def _history(conn: Connection, facts: Facts, batch: list[Work], window: int) -> None:
    mids = {w.parsed.message_id for w in batch if w.parsed and w.parsed.message_id}
    facts.our_ids = set(conn.execute(select(outbox.c.message_id).where(
        outbox.c.message_id.in_(mids))).scalars()) if mids else set()
    senders = {w.parsed.from_addr for w in batch if w.parsed}
    facts.from_sender.update(dict(conn.execute(
        select(inbound.c.sender, func.count()).where(
            inbound.c.sender.in_(senders), inbound.c.received_at >= since(facts.now, window),
            inbound.c.state == PROCESSED).group_by(inbound.c.sender)).all()))


def _threads(conn: Connection, facts: Facts, batch: list[Work], tags: set[int]) -> None:
    mids = {m for w in batch if w.parsed for m in w.parsed.in_reply_to + w.parsed.references}
    if mids:
        facts.thread_of = dict(conn.execute(select(inbound.c.message_id, inbound.c.ticket_id).where(
            inbound.c.message_id.in_(mids), inbound.c.ticket_id.is_not(None))).all())
        facts.sent_in = dict(conn.execute(select(outbox.c.message_id, outbox.c.ticket_id).where(
            outbox.c.message_id.in_(mids), outbox.c.ticket_id.is_not(None))).all())
    senders = {w.parsed.from_addr for w in batch if w.parsed and w.parsed.from_addr}
    if tags and senders:
        facts.on_ticket = {(r.ticket_id, r.sender) for r in conn.execute(select(
            inbound.c.ticket_id, inbound.c.sender).distinct().where(
            inbound.c.ticket_id.in_(tags), inbound.c.sender.in_(senders)))}
    if tags:
        facts.last_ticket = conn.execute(select(func.max(tickets.c.id))).scalar() or 0
    wanted = tags | set(facts.thread_of.values()) | set(facts.sent_in.values())
    if wanted:
        facts.refs = dict(conn.execute(select(tickets.c.id, tickets.c.ref).where(
            tickets.c.id.in_(wanted))).all())
        facts.owner = owner_teams(conn, wanted)


def owner_teams(conn: Connection, ticket_ids: set[int]) -> dict[int, tuple[str, ...]]:
    """The recipients of each ticket's latest routing (or triage) mail (ownmail.owner_team)."""
    owner: dict[int, tuple[str, ...]] = {}
    for row in conn.execute(select(outbox.c.ticket_id, outbox.c.recipients).where(
            outbox.c.ticket_id.in_(ticket_ids), outbox.c.kind.in_(ownmail.TEAM_KINDS))
            .order_by(outbox.c.id)):
        owner[row.ticket_id] = tuple(a for a in (row.recipients or "").split(",") if a)
    return owner


def _plans(conn: Connection, facts: Facts, batch: list[Work], ids: list[int], window: int) -> None:
    after = since(facts.now, window)
    facts.audited = set(conn.execute(select(audit_sample.c.inbound_id).where(
        audit_sample.c.inbound_id.in_(ids))).scalars())
    facts.queued = {(r.inbound_id, r.kind) for r in conn.execute(select(
        outbox.c.inbound_id, outbox.c.kind).where(outbox.c.inbound_id.in_(ids)))}
    users = {normalise(w.parsed.from_addr) for w in batch if w.parsed}
    facts.user_mails.update(dict(conn.execute(select(outbox.c.recipients, func.count()).where(
        outbox.c.kind.in_(USER_KINDS), outbox.c.recipients.in_(users),
        outbox.c.created_at >= after).group_by(outbox.c.recipients)).all()))
    senders = {w.parsed.from_addr for w in batch if w.parsed}
    facts.automatic_team.update(dict(conn.execute(
        select(inbound.c.sender, func.count()).select_from(
            outbox.join(inbound, outbox.c.inbound_id == inbound.c.id)).where(
            outbox.c.kind.in_(TEAM_KINDS), inbound.c.sender.in_(senders),
            inbound.c.automatic.is_(True), outbox.c.created_at >= after)
        .group_by(inbound.c.sender)).all()))
