"""What the outbound stages pass around: the case a mail is about, the decided draft, and
the queued mail. Data only, so planner, composer, queue and sender share it without
importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.process.parse import ParsedMessage

USER_KINDS = ("ack", "followup")  # to the person who wrote; limited per recipient
TEAM_KINDS = ("route", "triage", "forward")  # to a team, with the original attached
MAX_REFERENCES = 10


def thread_of(parsed: ParsedMessage) -> tuple[str | None, tuple[str, ...]]:
    """In-Reply-To and References for a mail that answers `parsed`: its own thread so far
    (the newest MAX_REFERENCES) plus itself."""
    references = list(parsed.references[-MAX_REFERENCES:])
    if parsed.message_id and parsed.message_id not in references:
        references.append(parsed.message_id)
    return parsed.message_id, tuple(references)


@dataclass(frozen=True)
class RouteDecision:
    recipients: tuple[str, ...]
    triage: bool
    rule: str  # the rule's name, "default", "triage: <heads>" or "unconfigured"


@dataclass(frozen=True)
class MailContext:
    """The case a mail is about: the message, its ticket and its labels."""

    ticket_ref: str
    ticket_id: int
    inbound_id: int | None  # the message the mails belong to (None: a reviewer's correction)
    is_followup: bool
    automatic: bool
    parsed: ParsedMessage
    raw: bytes
    predictions: dict[str, Any]  # head -> object with .label, .confidence, .needs_review
    mailbox: str
    received_at: datetime  # aware
    owner_team: tuple[str, ...] = ()
    auto_reply: bool = False  # an out-of-office reply: registered, never a case for a team


@dataclass(frozen=True)
class Draft:
    """Everything decided about one mail when it is planned; composing it needs only this
    and the context. `extra` holds template variables only this kind has; `in_reply_to`
    and `references`, when set, answer another message than the case's own."""

    kind: str
    recipients: tuple[str, ...]
    subject: str
    language: str
    decision: RouteDecision
    message_id: str
    date: datetime  # aware
    extra: dict[str, Any] = field(default_factory=dict)
    in_reply_to: str | None = None
    references: tuple[str, ...] | None = None


@dataclass(frozen=True)
class OutgoingMail:
    """A planned mail as the queue stores it; the sender composes its bytes later."""

    kind: str  # ack, route, triage, forward, followup, correction
    recipients: tuple[str, ...]
    message_id: str
    ticket_id: int | None
    inbound_id: int | None
    plan: str  # JSON: what `materialise.load_planned` needs besides stored rows
    recipient_limit: tuple[int, int] | None = None  # (mails, seconds) per recipient
