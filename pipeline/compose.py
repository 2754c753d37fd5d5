"""Compose stage: the mails one processed message causes, rendered to final bytes.

A new ticket gets an acknowledgement for the sender and a routing (or triage) mail for a
team; a follow-up gets a forward to the owning team and, if configured, a short note for
the sender. Every reason not to write to the sender is checked here (automatic message,
our own address, too many mails to that address lately) and returned, never silent.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from pipeline import outbox, render, route
from pipeline.addresses import domain_of, is_address, normalise
from pipeline.config_outbound import OutboundConfig
from pipeline.db import utcnow
from pipeline.mailvars import variables
from pipeline.outheaders import Head, assemble, clean_subject
from pipeline.parse import ParsedMessage

log = logging.getLogger(__name__)

USER_KINDS = ("ack", "followup")
MAX_REFERENCES = 10
_WORDS = {
    "es": {"none": "(sin asunto)", "triage": "Para clasificar", "forward": "Nuevo mensaje"},
    "en": {"none": "(no subject)", "triage": "To triage", "forward": "New message"},
}
_REPLY_PREFIX = re.compile(r"^(re|aw|rv|sv)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class MailContext:
    ticket_ref: str
    ticket_id: int
    inbound_id: int
    is_followup: bool
    automatic: bool
    parsed: ParsedMessage
    raw: bytes
    predictions: dict[str, Any]  # head -> object with .label, .confidence, .needs_review
    mailbox: str
    received_at: datetime  # aware
    owner_team: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutgoingMail:
    kind: str  # ack, route, triage, forward, followup
    recipients: tuple[str, ...]
    message_id: str
    raw: bytes
    ticket_id: int | None
    inbound_id: int | None
    recipient_limit: tuple[int, int] | None = None  # (mails, seconds) per recipient, user mails


@dataclass(frozen=True)
class Composed:
    mails: list[OutgoingMail]
    skipped: list[str]  # one sentence per mail not composed, saying why


def build_mails(outbound_cfg: OutboundConfig, ctx: MailContext,
                conn: Connection | None = None) -> list[OutgoingMail]:
    """The mails for one message; reasons for any mail not composed are logged."""
    result = compose(outbound_cfg, ctx, conn)
    for reason in result.skipped:
        log.info("%s message-id %s: %s", ctx.ticket_ref, ctx.parsed.message_id, reason)
    return result.mails


def compose(cfg: OutboundConfig, ctx: MailContext, conn: Connection | None = None,
            now: datetime | None = None) -> Composed:
    """Like `build_mails`, also returning why each mail not composed was left out."""
    now = now or utcnow()
    if ctx.is_followup:
        results = [_forward(cfg, ctx, now, conn)]
        if cfg.outbox.followup_note:
            results.append(_user_mail(cfg, ctx, "followup", conn, now))
    else:
        results = [_user_mail(cfg, ctx, "ack", conn, now), _team_mail(cfg, ctx, now, conn)]
    return Composed([r for r in results if isinstance(r, OutgoingMail)],
                    [r for r in results if isinstance(r, str)])


def user_mail_refusal(cfg: OutboundConfig, ctx: MailContext, conn: Connection | None,
                      now: datetime) -> str | None:
    """Why the sender must not get a mail from us, or None."""
    sender = normalise(ctx.parsed.from_addr)
    if ctx.automatic:
        return "the message is automatic (never answer an autoresponder)"
    if not is_address(sender):
        return f"the sender address {sender!r} is not one we can write to"
    if sender in cfg.own_addresses:
        return f"{sender} is one of our own addresses"
    if conn is not None:
        return outbox.limit_reason(conn, sender, _limit(cfg), now)
    return None


def _limit(cfg: OutboundConfig) -> tuple[int, int]:
    return cfg.outbox.recipient_limit, cfg.outbox.recipient_window


def _user_mail(cfg: OutboundConfig, ctx: MailContext, kind: str, conn: Connection | None,
               now: datetime) -> OutgoingMail | str:
    refusal = user_mail_refusal(cfg, ctx, conn, now)
    if refusal:
        return f"no {kind}: {refusal}"
    language = render.pick_language(cfg.templates, kind, ctx.parsed.language)
    subject = _reply_subject(ctx, language)
    return _mail(cfg, ctx, kind, (normalise(ctx.parsed.from_addr),), subject, language, now)


def _team_mail(cfg: OutboundConfig, ctx: MailContext, now: datetime,
               conn: Connection | None = None) -> OutgoingMail | str:
    flood = _automatic_flood(cfg, ctx, conn, now)
    if flood:
        return f"no routing mail: {flood}"
    decision = route.decide(cfg.routing, ctx)
    recipients = _team_recipients(cfg, decision.recipients)
    if not recipients:
        return f"no routing mail: no team address ({decision.rule})"
    kind = "triage" if decision.triage else "route"
    language = render.pick_language(cfg.templates, kind, cfg.templates.default_language)
    subject = _team_subject(ctx, kind, language)
    return _mail(cfg, ctx, kind, recipients, subject, language, now, decision)


def _forward(cfg: OutboundConfig, ctx: MailContext, now: datetime,
             conn: Connection | None = None) -> OutgoingMail | str:
    if ctx.automatic and not cfg.outbox.forward_automatic:
        return "no forward: the follow-up is automatic ([outbox] forward_automatic is off)"
    flood = _automatic_flood(cfg, ctx, conn, now)
    if flood:
        return f"no forward: {flood}"
    decision = route.decide(cfg.routing, ctx)
    recipients = _team_recipients(cfg, ctx.owner_team or decision.recipients)
    if not recipients:
        return "no forward: the ticket has no owner team and no route applies"
    if ctx.owner_team:
        decision = route.RouteDecision(recipients, False, "owner team")
    language = render.pick_language(cfg.templates, "forward", cfg.templates.default_language)
    subject = _team_subject(ctx, "forward", language)
    return _mail(cfg, ctx, "forward", recipients, subject, language, now, decision)


def _automatic_flood(cfg: OutboundConfig, ctx: MailContext, conn: Connection | None,
                     now: datetime) -> str | None:
    """Team mail caused by automatic mail is limited per sender, as acks are per recipient:
    an autoresponder or a bouncing team address answering every routing mail would
    otherwise open a new ticket, and send a new routing mail, forever."""
    if not ctx.automatic or conn is None:
        return None
    return outbox.automatic_team_reason(conn, ctx.parsed.from_addr, _limit(cfg), now)


def _team_recipients(cfg: OutboundConfig, addresses: tuple[str, ...]) -> tuple[str, ...]:
    """Never route into the desk's own mailbox: the mail would come back as new work."""
    own = (cfg.from_address, cfg.reply_to)
    return tuple(a for a in (normalise(x) for x in addresses) if is_address(a) and a not in own)


def _mail(cfg: OutboundConfig, ctx: MailContext, kind: str, recipients: tuple[str, ...],
          subject: str, language: str, now: datetime,
          decision: route.RouteDecision | None = None) -> OutgoingMail:
    decision = decision or route.decide(cfg.routing, ctx)
    body = render.render(cfg.templates, kind, language, variables(cfg, ctx, language, decision))
    head = _head(cfg, ctx, kind, recipients, subject, now)
    user_facing = kind in USER_KINDS
    original = None if user_facing else ctx.raw
    return OutgoingMail(kind, recipients, head.message_id,
                        assemble(head, body.text, body.html, original), ctx.ticket_id,
                        ctx.inbound_id, _limit(cfg) if user_facing else None)


def _head(cfg: OutboundConfig, ctx: MailContext, kind: str, recipients: tuple[str, ...],
          subject: str, now: datetime) -> Head:
    parsed = ctx.parsed
    references = list(parsed.references[-MAX_REFERENCES:])
    if parsed.message_id and parsed.message_id not in references:
        references.append(parsed.message_id)
    return Head(
        from_name=cfg.from_name, from_address=cfg.from_address, reply_to=cfg.reply_to,
        to=recipients, subject=subject, message_id=make_msgid(domain=domain_of(cfg.from_address)),
        date=now.astimezone(ZoneInfo(cfg.service_levels.timezone)),
        auto_submitted="auto-replied" if kind in USER_KINDS else "auto-generated",
        ticket_ref=ctx.ticket_ref, in_reply_to=parsed.message_id, references=tuple(references),
    )


def _user_subject(ctx: MailContext, language: str) -> str:
    subject = clean_subject(ctx.parsed.subject)
    tag = re.compile(r"\[\s*" + re.escape(ctx.ticket_ref) + r"\s*\]", re.IGNORECASE)
    subject = " ".join(tag.sub(" ", subject).split())
    return subject or _words(language)["none"]


def _reply_subject(ctx: MailContext, language: str) -> str:
    subject = _user_subject(ctx, language)
    prefix = "" if _REPLY_PREFIX.match(subject) else "Re: "
    return f"[{ctx.ticket_ref}] {prefix}{subject}"


def _team_subject(ctx: MailContext, kind: str, language: str) -> str:
    subject = _user_subject(ctx, language)
    if kind in ("triage", "forward"):
        return f"[{ctx.ticket_ref}] {_words(language)[kind]}: {subject}"
    labels = [ctx.predictions[h].label for h in ("type", "priority") if h in ctx.predictions]
    return f"[{ctx.ticket_ref}] {'/'.join(labels)}: {subject}" if labels else \
        f"[{ctx.ticket_ref}] {subject}"


def _words(language: str) -> dict[str, str]:
    return _WORDS.get(language, _WORDS["en"])
