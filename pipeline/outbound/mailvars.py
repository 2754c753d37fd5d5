"""The variables every template receives (documented in templates/README.md).

All kinds get the same set, so a site can move a sentence from one template to another
without learning a second vocabulary. User text is passed as plain strings: Jinja prints a
variable, it never evaluates it, and HTML templates escape it.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from pipeline import vocabulary
from pipeline.config import servicelevels
from pipeline.config.outbound import OutboundConfig
from pipeline.outbound import route, salutation
from pipeline.outbound.datetext import format_when
from pipeline.outbound.headers import clean_subject
from pipeline.outbound.mail import MailContext, RouteDecision
from pipeline.outbound.route import uncertain_heads

HEAD_ORDER = ("type", "priority", "queue")
ACK_KINDS = ("incident", "service_request", "inquiry", "complaint", "compliment")


def variables(cfg: OutboundConfig, ctx: MailContext, language: str,
              decision: RouteDecision) -> dict[str, Any]:
    values = _message(cfg, ctx, language)
    values.update(_understood(ctx, language))
    values.update(_service_level(cfg, ctx, language))
    values.update(_routing(cfg, ctx, language, decision))
    values.update(_person(cfg, ctx, language))
    values.update(corrected=False, corrector="", correction_note="")  # a re-route's plan sets them
    return values


def ack_kind(ctx: MailContext) -> str:
    """What the acknowledgement answers: the type when it is known, else `uncertain` (a
    person will read it: the ack must not claim to have understood)."""
    kind = ctx.predictions.get("type")
    if kind is None or kind.needs_review:
        return "uncertain"
    code = vocabulary.resolve("type", kind.label)
    return code if code in ACK_KINDS else "uncertain"


def _person(cfg: OutboundConfig, ctx: MailContext, language: str) -> dict[str, Any]:
    parsed = ctx.parsed
    return {
        "greeting_name": salutation.given_name(parsed.from_name),
        "formal": language == "es" and salutation.formal(
            f"{parsed.subject}\n{parsed.clean_text}", cfg.templates.spanish_register),
    }


def _message(cfg: OutboundConfig, ctx: MailContext, language: str) -> dict[str, Any]:
    parsed = ctx.parsed
    return {
        "ticket_ref": ctx.ticket_ref, "ticket_id": ctx.ticket_id, "language": language,
        "subject": clean_subject(parsed.subject), "body": parsed.clean_text or parsed.text,
        "full_text": parsed.text, "sender": parsed.from_addr, "sender_name": parsed.from_name,
        "desk_name": cfg.from_name or "Service desk", "desk_address": cfg.reply_to,
        "mailbox": ctx.mailbox, "is_followup": ctx.is_followup, "automatic": ctx.automatic,
        "attachments": [{"name": a.name, "content_type": a.content_type, "size": a.size}
                        for a in parsed.attachments],
    }


def _understood(ctx: MailContext, language: str) -> dict[str, Any]:
    kind = ctx.predictions.get("type")
    known = kind is not None and not kind.needs_review
    label = kind.label if kind is not None else ""
    queue = ctx.predictions.get("queue")
    topic = vocabulary.phrase("queue", queue.label, language) \
        if queue is not None and not queue.needs_review and vocabulary.term("queue", queue.label) else ""
    return {
        "ack_kind": ack_kind(ctx), "topic": topic,
        "type_known": known, "type_label": label,
        "type_text": vocabulary.phrase("type", label, language) if known else "",
        "type_name": vocabulary.name("type", label, language) if known else "",
        "is_incident": known and vocabulary.resolve("type", label) == "incident",
    }


def effective_priority(cfg: OutboundConfig, predictions: dict[str, Any]) -> str:
    """The priority the promise is made for: a doubtful or unknown one gets the default."""
    targets = cfg.service_levels.targets
    prediction = predictions.get("priority")
    if prediction is None or prediction.needs_review:
        return cfg.service_levels.default_priority
    label = prediction.label.lower()
    return label if label in targets else \
        cfg.service_levels.target(vocabulary.resolve("priority", label) or label)[0]


def _service_level(cfg: OutboundConfig, ctx: MailContext, language: str) -> dict[str, Any]:
    levels = cfg.service_levels
    priority = effective_priority(cfg, ctx.predictions)
    received = ctx.received_at.astimezone(ZoneInfo(levels.timezone))
    first = servicelevels.first_response_due(levels, priority, received)
    if ack_kind(ctx) == "complaint":  # a complaint has its own promise, whatever its priority
        first = servicelevels.due(levels, received, cfg.complaints.first_response)
    resolution = servicelevels.resolution_due(levels, priority, received)
    return {
        "priority": priority, "priority_text": vocabulary.name("priority", priority, language),
        "received_at": format_when(received, language), "received_at_iso": received.isoformat(),
        "first_response_due": format_when(first, language, received),
        "first_response_due_iso": first.isoformat(),
        "resolution_due": format_when(resolution, language, received),
        "resolution_due_iso": resolution.isoformat(),
        "timezone": levels.timezone, "business_hours": levels.business_hours is not None,
        "complaint_role": cfg.complaints.role_in(language),
    }


def _routing(cfg: OutboundConfig, ctx: MailContext, language: str,
             decision: RouteDecision) -> dict[str, Any]:
    return {
        "rule_text": route.describe(cfg.routing, decision.rule, language),
        "predictions": [_prediction(head, ctx.predictions[head], language)
                        for head in sorted(ctx.predictions, key=_head_order)],
        "uncertain_heads": uncertain_heads(ctx.predictions),
        "triage": decision.triage, "rule": decision.rule,
        "team": list(ctx.owner_team or decision.recipients),
    }


def _head_order(head: str) -> tuple[int, str]:
    return (HEAD_ORDER.index(head) if head in HEAD_ORDER else len(HEAD_ORDER), head)


def _prediction(head: str, prediction: Any, language: str) -> dict[str, Any]:
    confidence = float(prediction.confidence)
    return {
        "head": head, "label": prediction.label,
        "text": vocabulary.name(head, prediction.label, language),
        "head_name": vocabulary.head_name(head, language),
        "confidence": confidence, "percent": round(confidence * 100),
        "needs_review": bool(prediction.needs_review),
        "corrected_by": getattr(prediction, "corrected_by", None) or "",
    }
