"""Planning: which mails one processed message causes, decided inside its transaction.

A new ticket gets an acknowledgement for the sender and a routing (or triage) mail for a
team; a follow-up gets a forward to the owning team and, if configured, a short note for
the sender; a correction by a team member gets a routing mail to the team its corrected
labels choose (when that team is a new one) and, for words nobody knows, a reply listing
the valid labels. Every reason not to write is asked of `policy` and logged, never silent.

What is fixed here: kind, recipients, subject, language, route, Message-ID and Date, stored
as the outbox row's plan. The sender composes the bytes later (pipeline/outbound/compose.py)
with the templates, From name, Reply-To and service-level targets in force then.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import datetime
from email.utils import make_msgid
from typing import Any

from sqlalchemy import Connection

from pipeline import vocabulary
from pipeline.addresses import domain_of, normalise
from pipeline.config.outbound import OutboundConfig
from pipeline.db import utcnow
from pipeline.outbound import mailvars, policy, render, route
from pipeline.outbound.headers import clean_subject
from pipeline.outbound.mail import USER_KINDS, Draft, MailContext, OutgoingMail, thread_of
from pipeline.process import ownmail

log = logging.getLogger("triaje.outbound")

_WORDS = {
    "es": {"none": "(sin asunto)", "triage": "Para clasificar", "forward": "Nuevo mensaje",
           "correction": "Corrección no reconocida", "reassigned": "Caso reasignado",
           "priority": "prioridad {}"},
    "en": {"none": "(no subject)", "triage": "To triage", "forward": "New message",
           "correction": "Correction not understood", "reassigned": "Case reassigned",
           "priority": "{} priority"},
}
# one pattern for every ticket: compiling one per ref cost planning a tenth of a
# millisecond per mail (each new ref misses re's cache)
_BRACKETED = re.compile(r"\[\s*([^\[\]\s]+)\s*\]")
_REPLY_PREFIX = re.compile(r"^(re|aw|rv|sv)\s*:", re.IGNORECASE)


def plan_mails(cfg: OutboundConfig, ctx: MailContext, conn: Connection | None = None,
               parse_limit: int | None = None) -> list[OutgoingMail]:
    """The mails for one message, decided but not composed. `parse_limit` is the `[desk]
    max_message_bytes` the message was parsed with; the sender parses it the same."""
    drafts, skipped = draft_mails(cfg, ctx, conn)
    log_skipped(ctx, skipped)
    return [outgoing(cfg, ctx, d, parse_limit) for d in drafts]


def draft_mails(cfg: OutboundConfig, ctx: MailContext, conn: Connection | None = None,
                now: datetime | None = None) -> tuple[list[Draft], list[str]]:
    """The drafts, and one sentence per mail not written saying why."""
    now = now or utcnow()
    if ctx.is_followup:
        results = [_forward(cfg, ctx, now, conn)]
        if cfg.outbox.followup_note:
            results.append(_user_mail(cfg, ctx, "followup", conn, now))
    else:
        results = [_user_mail(cfg, ctx, "ack", conn, now), _team_mail(cfg, ctx, now, conn)]
    return ([r for r in results if isinstance(r, Draft)],
            [r for r in results if isinstance(r, str)])


def log_skipped(ctx: MailContext, skipped: list[str]) -> None:
    for reason in skipped:
        log.info("%s message-id %s: %s", ctx.ticket_ref, ctx.parsed.message_id, reason)


def outgoing(cfg: OutboundConfig, ctx: MailContext, draft: Draft,
             parse_limit: int | None = None, source: dict[str, Any] | None = None) -> OutgoingMail:
    limit = policy.recipient_limit(cfg) if draft.kind in USER_KINDS else None
    return OutgoingMail(draft.kind, draft.recipients, draft.message_id, ctx.ticket_id,
                        ctx.inbound_id, plan_json(ctx, draft, parse_limit, source), limit)


def plan_json(ctx: MailContext, draft: Draft, parse_limit: int | None = None,
              source: dict[str, Any] | None = None) -> str:
    """What the sender needs besides the stored rows. `source` names another message than
    the row's own as the case (a re-route shows the opening message) and may carry the
    labels to show instead of the stored predictions."""
    plan = {
        "parse_limit": parse_limit,
        "subject": draft.subject, "language": draft.language, "date": draft.date.isoformat(),
        "rule": draft.decision.rule, "triage": draft.decision.triage,
        "team": list(draft.decision.recipients), "ticket_ref": ctx.ticket_ref,
        "is_followup": ctx.is_followup, "automatic": ctx.automatic, "mailbox": ctx.mailbox,
        "received_at": ctx.received_at.isoformat(), "owner_team": list(ctx.owner_team),
        "auto_reply": ctx.auto_reply,
    }
    if draft.extra:
        plan["extra"] = draft.extra
    if draft.in_reply_to is not None or draft.references is not None:
        plan["in_reply_to"], plan["references"] = draft.in_reply_to, list(draft.references or ())
    if source:
        plan["source"] = source
    return json.dumps(plan, ensure_ascii=False)


def plan_reroute(conn: Connection, cfg: OutboundConfig, case: MailContext, source: dict[str, Any],
                 parse_limit: int | None = None,
                 extra: dict[str, Any] | None = None) -> list[OutgoingMail]:
    """After a correction: a routing mail to the team the corrected labels choose, when it
    is not the team that has the ticket now. `case` is the opening message with the
    corrected labels as its predictions, under the id of the message that caused the mail;
    `source` names the opening message and holds those labels as plain data for the plan."""
    draft = _team_mail(cfg, case, utcnow(), None)
    if isinstance(draft, str):
        log_skipped(case, [draft])
        return []
    if set(draft.recipients) == set(ownmail.owner_team(conn, case.ticket_id)):
        return []
    subject = f"[{case.ticket_ref}] {_words(draft.language)['reassigned']}: " \
        f"{_user_subject(case, draft.language)}"
    draft = replace(draft, subject=subject, extra=extra or {})
    return [outgoing(cfg, case, draft, parse_limit, source)]


def plan_correction_reply(conn: Connection, cfg: OutboundConfig, case: MailContext,
                          source: dict[str, Any], correction: Any, extra: dict[str, Any],
                          parse_limit: int | None = None) -> list[OutgoingMail]:
    """A reply to a correction with words nobody knows, listing the valid labels. `case`
    and `source` are as for `plan_reroute`; the reply answers the correction mail itself
    (`correction` is its parsed record)."""
    address = normalise(correction.from_addr)
    now = utcnow()
    refusal = policy.correction_reply_refusal(conn, cfg, address, now)
    if refusal:
        log.warning("%s: no correction reply to %s: %s", case.ticket_ref, address, refusal)
        return []
    language = render.pick_language(cfg.templates, "correction", correction.language)
    subject = f"{_words(language)['correction']}: {_tagged(case.ticket_ref, correction.subject)}"
    in_reply_to, references = thread_of(correction)
    draft = Draft("correction", (address,), subject, language, route.decide(cfg.routing, case),
                  _message_id(cfg), now, extra, in_reply_to, references)
    return [outgoing(cfg, case, draft, parse_limit, source)]


def _user_mail(cfg: OutboundConfig, ctx: MailContext, kind: str, conn: Connection | None,
               now: datetime) -> Draft | str:
    refusal = policy.user_mail_refusal(cfg, ctx, conn, now)
    if refusal:
        return f"no {kind}: {refusal}"
    language = render.pick_language(cfg.templates, kind, ctx.parsed.language)
    subject = _reply_subject(ctx, language)
    return _draft(cfg, ctx, kind, (normalise(ctx.parsed.from_addr),), subject, language, now)


def _team_mail(cfg: OutboundConfig, ctx: MailContext, now: datetime,
               conn: Connection | None = None) -> Draft | str:
    if ctx.auto_reply:
        return "no routing mail: an automatic reply (out of office) is no case for a team"
    flood = _automatic_flood(cfg, ctx, conn, now)
    if flood:
        return f"no routing mail: {flood}"
    decision = route.decide(cfg.routing, ctx)
    recipients = policy.team_recipients(cfg, decision.recipients + _complaint_owner(cfg, ctx))
    if not recipients:
        return f"no routing mail: no team address ({decision.rule})"
    kind = "triage" if decision.triage else "route"
    language = _team_language(cfg, kind, recipients)
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
    recipients = policy.team_recipients(cfg, ctx.owner_team or decision.recipients)
    if not recipients:
        return "no forward: the ticket has no owner team and no route applies"
    if ctx.owner_team:
        decision = route.RouteDecision(recipients, False, "owner team")
    language = _team_language(cfg, "forward", recipients)
    subject = _team_subject(ctx, "forward", language)
    return _draft(cfg, ctx, "forward", recipients, subject, language, now, decision)


def _team_language(cfg: OutboundConfig, kind: str, recipients: tuple[str, ...]) -> str:
    """A team reads one language: the one `[routing] languages` gives its address, else the
    desk's."""
    wanted = cfg.routing.language_of(recipients[0], cfg.templates.default_language)
    return render.pick_language(cfg.templates, kind, wanted)


def _complaint_owner(cfg: OutboundConfig, ctx: MailContext) -> tuple[str, ...]:
    """Every complaint also reaches `[complaints] owner`, whichever team handles it."""
    return cfg.complaints.owner if mailvars.ack_kind(ctx) == "complaint" else ()


def _automatic_flood(cfg: OutboundConfig, ctx: MailContext, conn: Connection | None,
                     now: datetime) -> str | None:
    """Team mail caused by automatic mail is limited per sender, as acks are per recipient."""
    if not ctx.automatic or conn is None:
        return None
    return policy.automatic_team_reason(conn, ctx.parsed.from_addr, policy.recipient_limit(cfg), now)


def _draft(cfg: OutboundConfig, ctx: MailContext, kind: str, recipients: tuple[str, ...],
           subject: str, language: str, now: datetime,
           decision: route.RouteDecision | None = None) -> Draft:
    return Draft(kind, recipients, subject, language, decision or route.decide(cfg.routing, ctx),
                 _message_id(cfg), now)


def _message_id(cfg: OutboundConfig) -> str:
    return make_msgid(domain=domain_of(cfg.from_address))


def _user_subject(ctx: MailContext, language: str) -> str:
    subject = _without_tag(clean_subject(ctx.parsed.subject), ctx.ticket_ref)
    return " ".join(subject.split()) or _words(language)["none"]


def _without_tag(subject: str, ticket_ref: str) -> str:
    """The subject with every `[REF]` (any case, spaces inside the brackets) blanked."""
    if not re.fullmatch(r"[^\[\]\s]+", ticket_ref):  # a prefix with spaces: its own pattern
        return re.sub(r"\[\s*" + re.escape(ticket_ref) + r"\s*\]", " ", subject, flags=re.IGNORECASE)
    ref = ticket_ref.lower()
    return _BRACKETED.sub(lambda m: " " if m.group(1).lower() == ref else m.group(0), subject)


def _reply_subject(ctx: MailContext, language: str) -> str:
    subject = _user_subject(ctx, language)
    prefix = "" if _REPLY_PREFIX.match(subject) else "Re: "
    return f"[{ctx.ticket_ref}] {prefix}{subject}"


def _team_subject(ctx: MailContext, kind: str, language: str) -> str:
    subject = _user_subject(ctx, language)
    if kind in ("triage", "forward"):
        return f"[{ctx.ticket_ref}] {_words(language)[kind]}: {subject}"
    return f"[{ctx.ticket_ref}] {_labels_in_words(ctx, language)}{subject}"


def _labels_in_words(ctx: MailContext, language: str) -> str:
    """«Incidencia (prioridad alta): » for the subject of a team mail, in its language."""
    kind, priority = ctx.predictions.get("type"), ctx.predictions.get("priority")
    if kind is None:
        return ""
    name = vocabulary.name("type", kind.label, language)
    words = name[:1].upper() + name[1:]
    if priority is not None:
        level = vocabulary.name("priority", priority.label, language)
        words += f" ({_words(language)['priority'].format(level)})"
    return f"{words}: "


def _tagged(ticket_ref: str, subject: str) -> str:
    subject = clean_subject(subject)
    return subject if ticket_ref.lower() in subject.lower() else f"[{ticket_ref}] {subject}"


def _words(language: str) -> dict[str, str]:
    return _WORDS.get(language, _WORDS["en"])
