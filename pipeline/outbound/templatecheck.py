"""Render every template once with a sample message, so a broken site override fails at start.

A template error found at start-up is a config problem the operator fixes in a minute; the
same error found while processing mail would quarantine every message of the day.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.config.outbound import OutboundConfig
from pipeline.outbound import planner
from pipeline.outbound.compose import compose
from pipeline.outbound.mail import MailContext
from pipeline.process.parse import parse_message

KINDS = ("ack", "route", "triage", "forward", "followup")
_SAMPLES = {
    "es": ("Ana García", "No puedo imprimir",
           "Hola:\n\nDesde esta mañana la impresora de la segunda planta no imprime.\n\nGracias,\nAna"),
    "en": ("Ann Green", "Printer not working",
           "Hello,\n\nSince this morning the printer on the second floor does not print.\n\n"
           "Thanks,\nAnn"),
}


@dataclass(frozen=True)
class Guess:
    """A prediction as the compose stage reads it (label, confidence, needs_review)."""

    label: str
    confidence: float
    needs_review: bool = False


def sample_raw(language: str = "es", subject: str | None = None, body: str | None = None,
               sender: str = "ana@example.org") -> bytes:
    name, default_subject, default_body = _SAMPLES.get(language, _SAMPLES["en"])
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = "desk@example.org"
    msg["Subject"] = default_subject if subject is None else subject
    msg["Date"] = format_datetime(datetime(2026, 11, 27, 17, 45, tzinfo=ZoneInfo("Europe/Madrid")))
    msg["Message-ID"] = "<sample-1@example.org>"
    msg.set_content(default_body if body is None else body)
    return msg.as_bytes()


def sample_context(language: str = "es", **changes: Any) -> MailContext:
    """A complete, realistic context; keyword arguments replace fields."""
    raw = changes.pop("raw", None) or sample_raw(language)
    ctx = MailContext(
        ticket_ref="SD-000123", ticket_id=123, inbound_id=456, is_followup=False,
        automatic=False, parsed=replace(parse_message(raw), language=language), raw=raw,
        predictions={"type": Guess("incident", 0.93), "priority": Guess("high", 0.81),
                     "queue": Guess("hardware", 0.77)},
        mailbox="desk", received_at=datetime(2026, 11, 27, 17, 45, tzinfo=ZoneInfo("Europe/Madrid")),
    )
    return replace(ctx, **changes)


def check_templates(cfg: OutboundConfig) -> list[str]:
    """Compose every kind in every known language; returns what was checked.

    Raises StageError naming the template at the first one that does not render.
    """
    checked = []
    for language in languages(cfg):
        for ctx in _variants(language):
            full = _with_followup_note(cfg)
            drafts, _ = planner.draft_mails(full, ctx)
            for draft in drafts:
                compose(full, ctx, draft)
                checked.append(f"{draft.kind}/{language}")
    return sorted(set(checked))


def languages(cfg: OutboundConfig) -> list[str]:
    found = {"es", "en", cfg.templates.default_language}
    if cfg.templates.directory:
        for path in Path(cfg.templates.directory).glob("*/*.txt.j2"):
            found.add(path.name.split(".")[0])
    return sorted(found)


def _variants(language: str) -> list[MailContext]:
    base = sample_context(language)
    unsure = dict(base.predictions, type=Guess("request", 0.41, needs_review=True))
    return [base, replace(base, predictions=unsure),
            replace(base, is_followup=True, owner_team=("team@example.org",))]


def _with_followup_note(cfg: OutboundConfig) -> OutboundConfig:
    routing = cfg.routing
    if not routing.default:
        routing = replace(routing, default=("team@example.org",), triage=("triage@example.org",))
    return replace(cfg, routing=routing, outbox=replace(cfg.outbox, followup_note=True))
