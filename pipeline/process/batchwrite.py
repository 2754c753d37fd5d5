"""The write stages of a whole batch as a few statements: the fast path of the runner.

The per-message path (stages in WRITE_STAGES, a savepoint each) costs a dozen statements
per mail. Here the batch's reads are asked once (batchfacts.py), each message's rows are
computed in memory in the batch's order, exactly as the stages would decide them, and
each table gets one executemany: new tickets (with RETURNING, since the refs and the
mails need the ids), their refs, follow-ups' `updated_at`, the inbound rows
(conditional on our claim), predictions, audit draws, outbox plans.

Anything unusual raises and the runner rolls the fast path back to its savepoint and
writes the batch one message at a time instead, where a bad message is quarantined with
its stage and reason: a database error, a lost claim, a mail from a team address (maybe a
correction, which the stages handle), a subject naming a ticket we cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pipeline.addresses import normalise
from pipeline.db import as_utc, fit_index, utcnow
from pipeline.errors import ClaimLost
from pipeline.process import batchfacts, batchplan, stages
from pipeline.process.batchfacts import Facts
from pipeline.process.guard import history_verdict
from pipeline.process.stages import audit, correction, history, plan, register, thread
from pipeline.process.thread import SET_TICKET, TicketRef, format_ref, subject_tag, ticket_values
from pipeline.process.work import Work
from pipeline.schema import tickets
from pipeline.services import Services
from pipeline.tracking.corrections import team_addresses


class OneByOne(Exception):
    """This batch is written one message at a time (the reason says why)."""


@dataclass
class Opened:
    """A ticket this batch opens: its id once inserted."""

    work: Work
    ticket: TicketRef | None = None


# what this module does in their place; a stage added to WRITE_STAGES and not here sends
# every batch through the stages until it is written here too
COVERED = (history.stage_history, correction.stage_correction, thread.stage_thread,
           register.stage_register, audit.stage_audit, plan.stage_plan)
Link = int | Opened  # the ticket a message joins: an existing id, or one opened in the batch


def write(conn: Connection, env: Services, batch: list[Work]) -> None:
    """All of the batch or nothing (the caller's savepoint); raises to fall back."""
    if not batch:
        return
    now, desk = utcnow(), env.config.desk
    _refuse(env, batch)
    tags = {t for w in batch if (t := subject_tag(w.need_parsed(), desk.ticket_prefix)) is not None}
    facts = batchfacts.gather(conn, batch, now, desk.sender_window,
                              env.config.outbound.outbox.recipient_window, tags)
    links = [_history_and_thread(work, env, facts) for work in batch]
    _open_tickets(conn, links, desk.ticket_prefix, now)
    _resolve(batch, links, facts)
    _check_doubts(batch, facts)
    rows = batchplan.Rows()
    for work in batch:
        batchplan.add(rows, work, env, facts)
    _flush_tickets(conn, batch, now)
    _flush(conn, rows)


def _refuse(env: Services, batch: list[Work]) -> None:
    if tuple(stage for _, stage in stages.WRITE_STAGES) != COVERED:
        raise OneByOne("WRITE_STAGES has a stage the batch writer does not cover")
    team = team_addresses(env.config)
    if any(normalise(w.need_parsed().from_addr) in team for w in batch):
        raise OneByOne("a mail from a team address (maybe a correction)")


def _history_and_thread(work: Work, env: Services, facts: Facts) -> Link:
    """The history and thread stages of one message, and what the next messages see of it
    once registered: its Message-ID on its ticket, its sender counted, its sender on the
    ticket."""
    parsed, desk = work.need_parsed(), env.config.desk
    if not work.verdict.automatic:
        sent = bool(parsed.message_id) and parsed.message_id in facts.our_ids
        over = not sent and facts.from_sender[parsed.from_addr] >= desk.sender_limit
        work.verdict = history_verdict(sent, over, desk.sender_limit, desk.sender_window)
    link = _follows(parsed.in_reply_to + parsed.references, facts)
    if link is None:
        link = _by_tag(work, desk.ticket_prefix, facts)
    link = link if link is not None else Opened(work)
    _remember(work, link, facts, desk.sender_window)
    return link


def _follows(ids: tuple[str, ...], facts: Facts) -> Link | None:
    for source in (facts.thread_of, facts.sent_in):
        for message_id in ids:
            if message_id in source:
                return source[message_id]
    return None


def _by_tag(work: Work, prefix: str, facts: Facts) -> Link | None:
    parsed = work.need_parsed()
    ticket_id = subject_tag(parsed, prefix)
    if ticket_id is None:
        return None
    if ticket_id not in facts.refs and ticket_id > facts.last_ticket:  # maybe one we open
        facts.doubts.append((work, ticket_id))
    return ticket_id if (ticket_id, parsed.from_addr) in facts.on_ticket else None


def _remember(work: Work, link: Link, facts: Facts, window: int) -> None:
    parsed, stored = work.need_parsed(), facts.stored[work.inbound_id]
    sender = fit_index(parsed.from_addr) if parsed.from_addr else None
    if stored.message_id:
        facts.thread_of[stored.message_id] = link
    if sender is not None and as_utc(stored.received_at) >= batchfacts.since(facts.now, window):
        facts.from_sender[sender] += 1
    if sender is not None and isinstance(link, int):
        facts.on_ticket.add((link, sender))


def _open_tickets(conn: Connection, links: list[Link], prefix: str, now: datetime) -> None:
    opened = list({id(o): o for o in links if isinstance(o, Opened)}.values())
    if not opened:
        return
    rows = [ticket_values(o.work.need_parsed(), o.work.mailbox, now) for o in opened]
    # matched by their unique pending ref: an order of RETURNING rows would cost SQLite
    # one statement per row
    ids = dict(conn.execute(tickets.insert().returning(tickets.c.ref, tickets.c.id), rows).all())
    for o, row in zip(opened, rows, strict=True):
        o.ticket = TicketRef(ids[row["ref"]], format_ref(prefix, ids[row["ref"]]), False)
    conn.execute(SET_TICKET, [{"row_id": o.ticket.id, "ref": o.ticket.ref}
                              for o in opened if o.ticket is not None])


def _resolve(batch: list[Work], links: list[Link], facts: Facts) -> None:
    for work, link in zip(batch, links, strict=True):
        if isinstance(link, Opened):
            if link.ticket is None:
                raise OneByOne("a ticket was not opened")
            work.ticket = TicketRef(link.ticket.id, link.ticket.ref, link.work is not work)
        else:
            work.ticket = TicketRef(link, facts.refs[link], True)


def _check_doubts(batch: list[Work], facts: Facts) -> None:
    """A subject naming a ticket that did not exist was taken as no follow-up; wrong if this
    batch opened that ticket for an earlier mail of the same sender."""
    for work, ticket_id in facts.doubts:
        sender = work.need_parsed().from_addr
        for earlier in batch[:batch.index(work)]:
            if earlier.need_ticket("thread").id == ticket_id and earlier.need_parsed().from_addr \
                    and fit_index(earlier.need_parsed().from_addr) == sender:
                raise OneByOne(f"inbound={work.inbound_id} follows ticket {ticket_id} opened now")


def _flush_tickets(conn: Connection, batch: list[Work], now: datetime) -> None:
    followed = [{"row_id": w.need_ticket("thread").id, "updated_at": now}
                for w in batch if w.need_ticket("thread").is_followup]
    if followed:
        conn.execute(SET_TICKET, followed)


def _flush(conn: Connection, rows: batchplan.Rows) -> None:
    done = conn.execute(batchplan.REGISTER, rows.register).rowcount
    if conn.dialect.supports_sane_multi_rowcount and done != len(rows.register):
        raise ClaimLost(rows.register[0]["row_id"])  # the per-message path finds which
    for table, values in rows.inserts():
        if values:
            conn.execute(table.insert(), values)


