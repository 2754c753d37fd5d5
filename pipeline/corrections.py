"""Correction stage: a team member replies to a routing mail with `tipo: incidente` lines.

Such a reply is not a user follow-up: it gets no ack and is not forwarded to the team. It
is recognised when the sender is a team address (anyone named in [routing], plus
`[tracking] correctors`), the reply names one of our team mails (In-Reply-To/References)
or carries the ticket reference in its subject, and its own text (quotes stripped) starts
lines with a head word and a colon. Automatic mail is never taken as a correction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select, update

from pipeline import correctmail, labels
from pipeline.addresses import normalise
from pipeline.config import Config
from pipeline.db import utcnow
from pipeline.parse import ParsedMessage
from pipeline.schema import correction_mails, inbound, outbox, tickets
from pipeline.thread import TicketRef

if TYPE_CHECKING:
    from pipeline.services import Services
    from pipeline.stages import Work

TEAM_KINDS = ("route", "triage", "forward", "correction")
# At most two leading spaces and no bullet: the examples and lists in our own mails are
# indented or bulleted, so a reply quoting them without ">" is not read as corrections.
_LINE = re.compile(r"^ {0,2}([^\W\d_][^\W\d]{1,15}(?: [^\W\d]{1,15})?)[ \t]*[:=][ \t]*(.+?)\s*$")
_QUOTE_START = re.compile(
    r"^\s*(>|-{3,}|_{5,}|(de|from|enviado|sent)\s*:|(el|on)\s.*(escribió|wrote)\s*:?\s*$)",
    re.IGNORECASE)


@dataclass(frozen=True)
class Outcome:
    applied: dict[str, str]  # head -> label recorded
    unknown: dict[str, str]  # head -> the word nobody knows
    rerouted_to: tuple[str, ...]


def team_addresses(config: Config) -> frozenset[str]:
    routing = config.outbound.routing
    named = [*routing.default, *routing.triage, *config.tracking.correctors]
    for rule in routing.rules:
        named.extend(rule.to)
    return frozenset(normalise(a) for a in named) - config.outbound.own_addresses


def parse_lines(text: str) -> list[tuple[str, str]]:
    """(head, word) for each correction line written above any quoted history."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if _QUOTE_START.match(line):
            break
        match = _LINE.match(line)
        head = labels.head_of(match.group(1)) if match else None
        if head and head not in found:
            found[head] = match.group(2).rstrip(".;,!").strip()
    return list(found.items())


def find_ticket(conn: Connection, parsed: ParsedMessage, prefix: str) -> TicketRef | None:
    """The ticket a team reply is about: one of our team mails it answers, else its tag."""
    ids = parsed.in_reply_to + parsed.references
    ticket_id = None
    if ids:
        ticket_id = conn.execute(select(outbox.c.ticket_id).where(
            outbox.c.message_id.in_(ids), outbox.c.kind.in_(TEAM_KINDS),
            outbox.c.ticket_id.is_not(None)).order_by(outbox.c.id.desc()).limit(1)).scalar()
    query = select(tickets.c.id, tickets.c.ref)
    if ticket_id is not None:
        row = conn.execute(query.where(tickets.c.id == ticket_id)).first()
    else:
        match = re.search(rf"\b{re.escape(prefix)}-\d{{1,12}}\b", parsed.subject, re.IGNORECASE)
        row = conn.execute(query.where(tickets.c.ref == match.group(0).upper())).first() \
            if match else None
    return TicketRef(row.id, row.ref, True) if row else None


def opening_message(conn: Connection, ticket_id: int) -> int | None:
    """The message that opened the ticket: the one that was classified and routed."""
    return conn.execute(select(inbound.c.id).where(
        inbound.c.ticket_id == ticket_id, inbound.c.is_followup.is_(False))
        .order_by(inbound.c.id).limit(1)).scalar()


def stage_correction(work: Work, env: Services) -> None:
    parsed, conn = work.parsed, work.conn
    if parsed is None or conn is None or work.verdict.automatic:
        return
    if normalise(parsed.from_addr) not in team_addresses(env.config):
        return
    lines = parse_lines(parsed.clean_text)
    ticket = find_ticket(conn, parsed, env.config.desk.ticket_prefix) if lines else None
    target = opening_message(conn, ticket.id) if ticket else None
    if ticket is None or target is None:
        return
    outcome = apply(conn, env, work, ticket, target, lines)
    _mark_processed(conn, work, ticket, target, outcome)
    work.ticket, work.handled = ticket, "correction"


def apply(conn: Connection, env: Services, work: Work, ticket: TicketRef, target: int,
          lines: list[tuple[str, str]]) -> Outcome:
    """Record the labels understood, answer the words not understood, re-route if needed."""
    author = normalise(work.parsed.from_addr)
    applied, unknown = {}, {}
    for head, word in lines:
        label = labels.resolve(head, word, env.model)
        if label is None:
            unknown[head] = word
        else:
            applied[head] = label
    for head, label in applied.items():
        labels.record(conn, target, head, label, "email", author, work.inbound_id)
    rerouted = correctmail.reroute(conn, env, target, ticket, work.inbound_id) if applied else ()
    if unknown:
        correctmail.answer_unknown(conn, env, work, target, ticket, applied, unknown)
    return Outcome(applied, unknown, rerouted)


def _mark_processed(conn: Connection, work: Work, ticket: TicketRef, target: int,
                    outcome: Outcome) -> None:
    parsed, now = work.parsed, utcnow()
    said = " ".join(f"{h}={v}" for h, v in outcome.applied.items())
    unknown = " ".join(f"{h}={v}" for h, v in outcome.unknown.items())
    note = f"label correction by {parsed.from_addr}: {said or '-'}" + \
        (f"; not understood: {unknown}" if unknown else "")
    conn.execute(update(inbound).where(inbound.c.id == work.inbound_id).values(
        state="processed", stage=None, reason=None, processed_at=now, ticket_id=ticket.id,
        is_followup=True, automatic=False, auto_reason="label correction",
        sender=parsed.from_addr, subject=parsed.subject[:2000], language=parsed.language,
        body_text=parsed.clean_text[:100_000], notes=note))
    conn.execute(correction_mails.insert().values(
        inbound_id=work.inbound_id, ticket_id=ticket.id, target_inbound_id=target,
        author=normalise(parsed.from_addr), applied=said, unknown=unknown,
        rerouted_to=",".join(outcome.rerouted_to) or None, created_at=now))
