"""The mails a correction by mail causes: a new routing mail, and an answer to unknown words.

Both are queued in the processing transaction, like every other mail. The routing mail is
composed exactly as the first one was (same templates, rules and original attached), from
the corrected labels; it is sent only when those labels send the ticket to another team
than the one that has it now. A reply with a word nobody knows gets a `correction` mail
listing the valid labels, so the agent can try again without any other tool.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from pipeline import compose, labels, mailvars, outbox, ownmail, render, route
from pipeline.addresses import domain_of, normalise
from pipeline.config import Config
from pipeline.db import utcnow
from pipeline.outheaders import Head, assemble, clean_subject
from pipeline.parse import parse_message
from pipeline.schema import inbound, predictions
from pipeline.schema import outbox as outbox_table
from pipeline.thread import TicketRef

if TYPE_CHECKING:
    from pipeline.services import Services
    from pipeline.stages import Work

log = logging.getLogger(__name__)
SUBJECTS = {"es": "Corrección no reconocida", "en": "Correction not understood"}


@dataclass(frozen=True)
class Effective:
    """A head's label as routing sees it after a person looked: never 'needs review'."""

    label: str
    confidence: float
    needs_review: bool = False


def load_case(conn: Connection, target: int, ticket: TicketRef,
              inbound_id: int | None = None) -> compose.MailContext:
    """The opening message as a compose context, with human labels over predictions."""
    row = conn.execute(select(inbound.c.raw, inbound.c.mailbox, inbound.c.received_at,
                              inbound.c.automatic).where(inbound.c.id == target)).one()
    raw = bytes(row.raw)
    return compose.MailContext(
        ticket_ref=ticket.ref, ticket_id=ticket.id, inbound_id=inbound_id or target,
        is_followup=False, automatic=bool(row.automatic), parsed=parse_message(raw), raw=raw,
        predictions=effective_labels(conn, target), mailbox=row.mailbox,
        received_at=outbox.as_utc(row.received_at))


def effective_labels(conn: Connection, target: int) -> dict[str, Effective]:
    found: dict[str, Effective] = {}
    rows = conn.execute(select(predictions.c.head, predictions.c.label, predictions.c.confidence)
                        .where(predictions.c.inbound_id == target).order_by(predictions.c.id))
    for row in rows:
        found[row.head] = Effective(row.label, float(row.confidence))
    for (_, head), human in labels.latest(conn, [target]).items():
        found[head] = Effective(human["label"], 1.0)
    return found


def team_decision(config: Config, case: compose.MailContext) -> route.RouteDecision:
    return route.decide(config.outbound.routing, case)


def reroute(conn: Connection, env: Services, target: int, ticket: TicketRef,
            correction_id: int) -> tuple[str, ...]:
    """Queue a routing mail to the team the corrected labels choose, if it is a new team."""
    case = load_case(conn, target, ticket, correction_id)
    decision = team_decision(env.config, case)
    owner = set(ownmail.owner_team(conn, ticket.id))
    if not decision.recipients or set(decision.recipients) == owner:
        return ()
    mails = [m for m in compose.compose(env.config.outbound, case).mails
             if m.kind in ownmail.TEAM_KINDS]
    outbox.enqueue(conn, mails)
    return tuple(r for m in mails for r in m.recipients)


def answer_unknown(conn: Connection, env: Services, work: Work, target: int, ticket: TicketRef,
                   applied: dict[str, str], unknown: dict[str, str]) -> None:
    """Tell the agent which words were not understood and which labels are valid."""
    cfg, parsed = env.config.outbound, work.parsed
    too_many = _limit_reason(conn, cfg, normalise(parsed.from_addr))
    if too_many:
        log.warning("%s: no correction reply to %s: %s", ticket.ref, parsed.from_addr, too_many)
        return
    case = load_case(conn, target, ticket, work.inbound_id)
    language = render.pick_language(cfg.templates, "correction", parsed.language)
    values = mailvars.variables(cfg, case, language, team_decision(env.config, case))
    values.update(_correction_values(env, language, applied, unknown))
    values["corrector"] = normalise(parsed.from_addr)
    body = render.render(cfg.templates, "correction", language, values)
    head = _head(env, work, ticket, language)
    mail = compose.OutgoingMail("correction", head.to, head.message_id,
                                assemble(head, body.text, body.html), ticket.id, work.inbound_id)
    outbox.enqueue(conn, [mail])


def _limit_reason(conn: Connection, cfg, address: str) -> str | None:
    """The per-recipient limit of user mails, for correction replies: a responder that
    quotes our reply back cannot turn it into a loop."""
    most, window = cfg.outbox.recipient_limit, cfg.outbox.recipient_window
    since = utcnow() - timedelta(seconds=window)
    sent = conn.execute(select(func.count()).select_from(outbox_table).where(
        outbox_table.c.kind == "correction", outbox_table.c.recipients == address,
        outbox_table.c.created_at >= since)).scalar_one()
    return f"{sent} correction replies in the last {window} s (limit {most})" if sent >= most else None


def _correction_values(env: Services, language: str, applied: dict[str, str],
                       unknown: dict[str, str]) -> dict[str, Any]:
    names = labels.HEAD_NAMES.get(language, labels.HEAD_NAMES["en"])
    heads = [h for h in labels.HEADS if h in unknown] + [h for h in labels.HEADS if h not in unknown]
    return {
        "applied": [{"head": h, "head_name": names.get(h, h), "label": v} for h, v in applied.items()],
        "unknown": [{"head": h, "head_name": names.get(h, h), "word": v} for h, v in unknown.items()],
        "valid": [{"head": h, "head_name": names.get(h, h),
                   "labels": labels.describe_valid(h, env.model)} for h in heads],
    }


def _head(env: Services, work: Work, ticket: TicketRef, language: str) -> Head:
    cfg, parsed = env.config.outbound, work.parsed
    references = list(parsed.references[-compose.MAX_REFERENCES:])
    if parsed.message_id and parsed.message_id not in references:
        references.append(parsed.message_id)
    subject = clean_subject(parsed.subject)
    if ticket.ref.lower() not in subject.lower():
        subject = f"[{ticket.ref}] {subject}"
    return Head(
        from_name=cfg.from_name, from_address=cfg.from_address, reply_to=cfg.reply_to,
        to=(normalise(parsed.from_addr),), subject=f"{SUBJECTS.get(language, SUBJECTS['en'])}: "
        f"{subject}", message_id=make_msgid(domain=domain_of(cfg.from_address)),
        date=utcnow().astimezone(ZoneInfo(cfg.service_levels.timezone)),
        auto_submitted="auto-replied", ticket_ref=ticket.ref, in_reply_to=parsed.message_id,
        references=tuple(references))
