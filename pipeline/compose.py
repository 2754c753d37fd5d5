"""Compose stage: the mails one processed message causes, rendered to final bytes.

A new ticket gets an acknowledgement for the sender and a routing (or triage) mail for a
team; a follow-up gets a forward to the owning team and, if configured, a short note for
the sender. Every reason not to write to the sender is checked here (automatic message,
our own address, too many mails to that address lately) and returned, never silent.
"""

from __future__ import annotations

import json
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
    raw: bytes | None  # None: rendered when the sender first takes it, from `plan`
    ticket_id: int | None
    inbound_id: int | None
    recipient_limit: tuple[int, int] | None = None  # (mails, seconds) per recipient, user mails
    plan: str | None = None  # JSON: what `deferred.render_queued` needs besides stored rows


@dataclass(frozen=True)
class Draft:
    """Everything decided about one mail at queue time; rendering it needs only the context."""

    kind: str
    recipients: tuple[str, ...]
    subject: str
    language: str
    decision: route.RouteDecision
    message_id: str
    date: datetime  # aware


@dataclass(frozen=True)
class Composed:
    mails: list[OutgoingMail]
    skipped: list[str]  # one sentence per mail not composed, saying why


def build_mails(outbound_cfg: OutboundConfig, ctx: MailContext,
                conn: Connection | None = None) -> list[OutgoingMail]:
    """The mails for one message, rendered; reasons for any mail not composed are logged."""
    result = compose(outbound_cfg, ctx, conn)
    _log_skipped(ctx, result.skipped)
    return result.mails


def plan_mails(outbound_cfg: OutboundConfig, ctx: MailContext, conn: Connection | None = None,
               parse_limit: int | None = None) -> list[OutgoingMail]:
    """The mails for one message, decided but not rendered: the ingest path queues these and
    the sender renders them (rendering was the largest cost of processing a message).

    Fixed now: kind, recipients, subject, language, route, Message-ID and Date. Taken from
    the config in force when the sender renders (normally seconds later): the templates,
    the From name and Reply-To, and the service-level targets. `parse_limit` is the
    `[desk] max_message_bytes` the message was parsed with; the sender parses it the same."""
    drafts, skipped = draft_mails(outbound_cfg, ctx, conn)
    _log_skipped(ctx, skipped)
    return [_outgoing(outbound_cfg, ctx, d, None, plan_json(ctx, d, parse_limit)) for d in drafts]


def compose(cfg: OutboundConfig, ctx: MailContext, conn: Connection | None = None,
            now: datetime | None = None) -> Composed:
    """Like `build_mails`, also returning why each mail not composed was left out."""
    drafts, skipped = draft_mails(cfg, ctx, conn, now)
    return Composed([_outgoing(cfg, ctx, d, render_draft(cfg, ctx, d)) for d in drafts], skipped)


def draft_mails(cfg: OutboundConfig, ctx: MailContext, conn: Connection | None = None,
                now: datetime | None = None) -> tuple[list[Draft], list[str]]:
    now = now or utcnow()
    if ctx.is_followup:
        results = [_forward(cfg, ctx, now, conn)]
        if cfg.outbox.followup_note:
            results.append(_user_mail(cfg, ctx, "followup", conn, now))
    else:
        results = [_user_mail(cfg, ctx, "ack", conn, now), _team_mail(cfg, ctx, now, conn)]
    return ([r for r in results if isinstance(r, Draft)],
            [r for r in results if isinstance(r, str)])


def _log_skipped(ctx: MailContext, skipped: list[str]) -> None:
    for reason in skipped:
        log.info("%s message-id %s: %s", ctx.ticket_ref, ctx.parsed.message_id, reason)


def plan_json(ctx: MailContext, draft: Draft, parse_limit: int | None = None) -> str:
    return json.dumps({
        "parse_limit": parse_limit,
        "subject": draft.subject, "language": draft.language, "date": draft.date.isoformat(),
        "rule": draft.decision.rule, "triage": draft.decision.triage,
        "team": list(draft.decision.recipients), "ticket_ref": ctx.ticket_ref,
        "is_followup": ctx.is_followup, "automatic": ctx.automatic, "mailbox": ctx.mailbox,
        "received_at": ctx.received_at.isoformat(), "owner_team": list(ctx.owner_team),
    }, ensure_ascii=False)


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
               now: datetime) -> Draft | str:
    refusal = user_mail_refusal(cfg, ctx, conn, now)
    if refusal:
        return f"no {kind}: {refusal}"
    language = render.pick_language(cfg.templates, kind, ctx.parsed.language)
    subject = _reply_subject(ctx, language)
    return _draft(cfg, ctx, kind, (normalise(ctx.parsed.from_addr),), subject, language, now)


def _team_mail(cfg: OutboundConfig, ctx: MailContext, now: datetime,
               conn: Connection | None = None) -> Draft | str:
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
    return _draft(cfg, ctx, kind, recipients, subject, language, now, decision)


def _forward(cfg: OutboundConfig, ctx: MailContext, now: datetime,
             conn: Connection | None = None) -> Draft | str:
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
    return _draft(cfg, ctx, "forward", recipients, subject, language, now, decision)


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


def _draft(cfg: OutboundConfig, ctx: MailContext, kind: str, recipients: tuple[str, ...],
           subject: str, language: str, now: datetime,
           decision: route.RouteDecision | None = None) -> Draft:
    return Draft(kind, recipients, subject, language, decision or route.decide(cfg.routing, ctx),
                 make_msgid(domain=domain_of(cfg.from_address)), now)


def _outgoing(cfg: OutboundConfig, ctx: MailContext, draft: Draft, raw: bytes | None,
              plan: str | None = None) -> OutgoingMail:
    limit = _limit(cfg) if draft.kind in USER_KINDS else None
    return OutgoingMail(draft.kind, draft.recipients, draft.message_id, raw, ctx.ticket_id,
                        ctx.inbound_id, limit, plan)


def render_draft(cfg: OutboundConfig, ctx: MailContext, draft: Draft) -> bytes:
    """The final bytes: templates, headers and, for team mails, the original attached."""
    values = variables(cfg, ctx, draft.language, draft.decision)
    body = render.render(cfg.templates, draft.kind, draft.language, values)
    original = None if draft.kind in USER_KINDS else ctx.raw
    return assemble(_head(cfg, ctx, draft), body.text, body.html, original)


def _head(cfg: OutboundConfig, ctx: MailContext, draft: Draft) -> Head:
    parsed = ctx.parsed
    references = list(parsed.references[-MAX_REFERENCES:])
    if parsed.message_id and parsed.message_id not in references:
        references.append(parsed.message_id)
    return Head(
        from_name=cfg.from_name, from_address=cfg.from_address, reply_to=cfg.reply_to,
        to=draft.recipients, subject=draft.subject, message_id=draft.message_id,
        date=draft.date.astimezone(ZoneInfo(cfg.service_levels.timezone)),
        auto_submitted="auto-replied" if draft.kind in USER_KINDS else "auto-generated",
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
