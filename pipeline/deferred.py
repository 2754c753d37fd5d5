"""Render a queued mail when the sender first takes it, from what was stored at queue time.

The ingest transaction decides each mail (kind, recipients, subject, language, route,
Message-ID, Date) and stores that decision as the row's `plan`; the bytes are made here,
once, and written to the row before the first send, so every retry and any resend after a
crash hand SMTP the same bytes. The context comes back from the rows the same transaction
wrote: the inbound message (parsed again, with the size limit it was first parsed with:
parsing is deterministic) and its predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from pipeline.compose import Draft, MailContext, render_draft
from pipeline.config_outbound import OutboundConfig
from pipeline.parse import parse_message
from pipeline.route import RouteDecision
from pipeline.schema import inbound, predictions


@dataclass(frozen=True)
class StoredPrediction:
    """The fields of classifier.predictor.Prediction, which is not imported here: it
    brings scikit-learn into the sender of a daemon that may have no model."""

    label: str
    confidence: float
    needs_review: bool


def render_queued(conn: Connection, cfg: OutboundConfig, row: Any) -> bytes:
    """The bytes of a planned outbox row (`row` has kind, recipients, message_id, plan, ...)."""
    return render_draft(cfg, *load_planned(conn, row))


def load_planned(conn: Connection, row: Any) -> tuple[MailContext, Draft]:
    """What rendering a planned row needs, read in one short transaction: the sender then
    renders with no transaction open, so ingest never waits for a template."""
    plan = json.loads(row.plan)
    message = conn.execute(select(inbound.c.raw).where(inbound.c.id == row.inbound_id)).one()
    raw = bytes(message.raw)
    ctx = MailContext(
        ticket_ref=plan["ticket_ref"], ticket_id=row.ticket_id, inbound_id=row.inbound_id,
        is_followup=plan["is_followup"], automatic=plan["automatic"],
        parsed=parse_message(raw, plan.get("parse_limit")),
        raw=raw, predictions=stored_predictions(conn, row.inbound_id), mailbox=plan["mailbox"],
        received_at=datetime.fromisoformat(plan["received_at"]),
        owner_team=tuple(plan["owner_team"]))
    draft = Draft(
        kind=row.kind, recipients=tuple(r for r in row.recipients.split(",") if r),
        subject=plan["subject"], language=plan["language"],
        decision=RouteDecision(tuple(plan["team"]), plan["triage"], plan["rule"]),
        message_id=row.message_id, date=datetime.fromisoformat(plan["date"]))
    return ctx, draft


def stored_predictions(conn: Connection, inbound_id: int) -> dict[str, StoredPrediction]:
    """The message's predictions as the classify stage stored them (the latest per head)."""
    query = (select(predictions.c.head, predictions.c.label, predictions.c.confidence,
                    predictions.c.needs_review)
             .where(predictions.c.inbound_id == inbound_id).order_by(predictions.c.id))
    return {row.head: StoredPrediction(row.label, float(row.confidence), bool(row.needs_review))
            for row in conn.execute(query)}
