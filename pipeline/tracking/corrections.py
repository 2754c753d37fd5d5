"""Corrections: a person says a prediction was wrong, from any way in.

By mail, a team member replies to a routing mail with lines such as `tipo: incidente`.
Such a reply is not a user follow-up: it gets no ack and is not forwarded to the team. It
is recognised when the sender is a team address (anyone named in [routing], plus
`[tracking] correctors`), the reply names one of our team mails (In-Reply-To/References)
or carries the ticket reference in its subject, and its own text (quotes stripped) starts
lines with a head word and a colon. Automatic mail is never taken as a correction.

In `triaje review` (and the web desk) the reviewer names the labels directly. Either way
the labels are recorded the same, and `mails_for` plans the same mails: a routing mail to
the team the corrected labels choose when it is a new team, and, for words nobody knows, a
reply listing the valid labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from pipeline import vocabulary
from pipeline.addresses import normalise
from pipeline.config import Config
from pipeline.db import as_utc, utcnow
from pipeline.outbound import planner, queue
from pipeline.outbound.mail import MailContext, OutgoingMail
from pipeline.outbound.materialise import StoredPrediction
from pipeline.process.parse import ParsedMessage, parse_message
from pipeline.process.thread import TicketRef
from pipeline.schema import correction_mails, inbound, outbox, predictions, tickets
from pipeline.tracking import labels

TEAM_KINDS = ("route", "triage", "forward", "correction")
# At most two leading spaces and no bullet: the examples and lists in our own mails are
# indented or bulleted, so a reply quoting them without ">" is not read as corrections.
_LINE = re.compile(r"^ {0,2}([^\W\d_][^\W\d]{1,15}(?: [^\W\d]{1,15})?)[ \t]*[:=][ \t]*(.+?)\s*$")
_QUOTE_START = re.compile(
    r"^\s*(>|-{3,}|_{5,}|(de|from|enviado|sent)\s*:|(el|on)\s.*(escribió|wrote)\s*:?\s*$)",
    re.IGNORECASE)


@dataclass(frozen=True)
class Correction:
    """What a person said about a case: the labels understood and the words that were not."""

    ticket: TicketRef
    target: int  # the inbound message that opened the ticket: the one classified and routed
    author: str
    source: str  # email, review, import
    applied: dict[str, str] = field(default_factory=dict)  # head -> label recorded
    unknown: dict[str, str] = field(default_factory=dict)  # head -> the word nobody knows
    note: str | None = None


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
        head = vocabulary.head_of(match.group(1)) if match else None
        if head and head not in found:
            found[head] = match.group(2).rstrip(".;,!").strip()
    return list(found.items())


def note_of(text: str) -> str | None:
    """What the agent wrote besides the label lines, above any quote: their note."""
    kept = []
    for line in text.splitlines():
        if _QUOTE_START.match(line):
            break
        match = _LINE.match(line)
        if not (match and vocabulary.head_of(match.group(1))) and line.strip():
            kept.append(line.strip())
    note = " ".join(kept)
    return (note[:497] + "…" if len(note) > 500 else note) or None


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


def from_mail(conn: Connection, config: Config, model: Any | None,
              parsed: ParsedMessage) -> Correction | None:
    """The correction a team member's mail makes, or None when it is not one."""
    if normalise(parsed.from_addr) not in team_addresses(config):
        return None
    lines = parse_lines(parsed.clean_text)
    ticket = find_ticket(conn, parsed, config.desk.ticket_prefix) if lines else None
    target = opening_message(conn, ticket.id) if ticket else None
    if ticket is None or target is None:
        return None
    applied, unknown = {}, {}
    for head, word in lines:
        label = labels.resolve(head, word, model)
        if label is None:
            unknown[head] = word
        else:
            applied[head] = label
    return Correction(ticket, target, normalise(parsed.from_addr), "email", applied, unknown,
                      note_of(parsed.clean_text))


def for_case(conn: Connection, target: int, author: str, source: str,
             applied: dict[str, str], note: str | None = None) -> Correction:
    """A correction a reviewer makes on a case (`target` is the message that opened it)."""
    row = conn.execute(select(tickets.c.id, tickets.c.ref).select_from(
        inbound.join(tickets, tickets.c.id == inbound.c.ticket_id))
        .where(inbound.c.id == target)).one()
    return Correction(TicketRef(row.id, row.ref, False), target, author, source, dict(applied),
                      note=note or None)


def apply(conn: Connection, config: Config, model: Any | None, correction: Correction) -> list[str]:
    """A reviewer's correction, in the caller's transaction: the labels, and the same
    re-route a correction by mail causes. Returns the addresses the case went to."""
    record(conn, correction, None)
    mails = mails_for(conn, config, model, correction, None)
    queue.enqueue(conn, mails)
    return [r for m in mails for r in m.recipients]


def record(conn: Connection, correction: Correction, origin_inbound_id: int | None) -> None:
    """The labels, as the truth from now on; a mail correction also as a correction row."""
    for head, label in correction.applied.items():
        labels.record(conn, correction.target, head, label, correction.source, correction.author,
                      origin_inbound_id)
    if correction.source != "email" or origin_inbound_id is None:
        return
    conn.execute(correction_mails.insert().values(
        inbound_id=origin_inbound_id, ticket_id=correction.ticket.id,
        target_inbound_id=correction.target, author=correction.author,
        applied=_pairs(correction.applied), unknown=_pairs(correction.unknown),
        rerouted_to=None, created_at=utcnow()))


def summary(correction: Correction, sender: str) -> str:
    """The note stored on the correction mail's inbound row."""
    said, unknown = _pairs(correction.applied), _pairs(correction.unknown)
    return f"label correction by {sender}: {said or '-'}" + \
        (f"; not understood: {unknown}" if unknown else "")


def mails_for(conn: Connection, config: Config, model: Any | None, correction: Correction,
              origin_inbound_id: int | None,
              reply_to: ParsedMessage | None = None) -> list[OutgoingMail]:
    """The mails a correction causes: a re-route when the team changes, and an answer to
    `reply_to` (the correction mail) when some words were not understood. The mails belong
    to `origin_inbound_id`, the correction mail (None for a correction made in review)."""
    case, source = _case(conn, correction, origin_inbound_id)
    limit = config.desk.max_message_bytes
    cfg = config.outbound
    mails = planner.plan_reroute(conn, cfg, case, source, limit, _reroute_values(correction)) \
        if correction.applied else []
    if correction.unknown and reply_to is not None:
        extra = _reply_values(model, correction, reply_to.language)
        mails += planner.plan_correction_reply(conn, cfg, case, source, reply_to, extra, limit)
    return mails


def note_rerouted(conn: Connection, origin_inbound_id: int, mails: list[OutgoingMail]) -> None:
    """Where a mail correction sent the case, for the record."""
    sent = [r for m in mails if m.kind in ("route", "triage") for r in m.recipients]
    if sent:
        conn.execute(update(correction_mails).where(
            correction_mails.c.inbound_id == origin_inbound_id).values(rerouted_to=",".join(sent)))


def effective_labels(conn: Connection, target: int) -> dict[str, dict[str, Any]]:
    """Each head's label as routing sees it after a person looked: never 'needs review'."""
    found: dict[str, dict[str, Any]] = {}
    rows = conn.execute(select(predictions.c.head, predictions.c.label, predictions.c.confidence)
                        .where(predictions.c.inbound_id == target).order_by(predictions.c.id))
    for row in rows:
        found[row.head] = {"label": row.label, "confidence": float(row.confidence),
                           "needs_review": False}
    for (_, head), human in labels.latest(conn, [target]).items():
        found[head] = {"label": human["label"], "confidence": 1.0, "needs_review": False,
                       "corrected_by": human["author"]}
    return found


def _case(conn: Connection, correction: Correction,
          origin_inbound_id: int | None) -> tuple[MailContext, dict[str, Any]]:
    """The opening message as the case of the mails, with the corrected labels."""
    row = conn.execute(select(inbound.c.raw, inbound.c.mailbox, inbound.c.received_at,
                              inbound.c.automatic).where(inbound.c.id == correction.target)).one()
    raw, effective = bytes(row.raw), effective_labels(conn, correction.target)
    case = MailContext(
        ticket_ref=correction.ticket.ref, ticket_id=correction.ticket.id,
        inbound_id=origin_inbound_id, is_followup=False, automatic=bool(row.automatic),
        parsed=parse_message(raw), raw=raw, mailbox=row.mailbox,
        predictions={h: StoredPrediction(v["label"], v["confidence"], False, v.get("corrected_by"))
                     for h, v in effective.items()},
        received_at=as_utc(row.received_at) if isinstance(row.received_at, datetime) else utcnow())
    return case, {"inbound_id": correction.target, "labels": effective}


def _reroute_values(correction: Correction) -> dict[str, Any]:
    return {"corrected": True, "corrector": correction.author, "correction_note": correction.note or ""}


def _reply_values(model: Any | None, correction: Correction, language: str) -> dict[str, Any]:
    heads = [h for h in labels.HEADS if h in correction.unknown] + \
        [h for h in labels.HEADS if h not in correction.unknown]
    return {
        "applied": [{"head": h, "head_name": vocabulary.head_name(h, language), "label": v,
                     "name": vocabulary.name(h, v, language)}
                    for h, v in correction.applied.items()],
        "unknown": [{"head": h, "head_name": vocabulary.head_name(h, language), "word": v}
                    for h, v in correction.unknown.items()],
        "valid": [{"head": h, "head_name": vocabulary.head_name(h, language),
                   "labels": labels.describe_valid(h, model, language)} for h in heads],
        "corrector": correction.author,
    }


def _pairs(values: dict[str, str]) -> str:
    return " ".join(f"{h}={v}" for h, v in values.items())
