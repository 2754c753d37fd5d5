"""A queued mail back as (context, draft), from what was stored when it was planned.

The processing transaction decided each mail and stored that decision as the row's `plan`;
the sender rebuilds the case from the rows the same transaction wrote: the inbound message
(parsed again, with the size limit it was first parsed with: parsing is deterministic) and
its predictions, or the labels the plan itself carries (a re-route after a correction shows
the corrected labels).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from pipeline.outbound.mail import Draft, MailContext, RouteDecision
from pipeline.process.parse import parse_message
from pipeline.schema import inbound, predictions


@dataclass(frozen=True)
class StoredPrediction:
    """The fields of classifier.predictor.Prediction, which is not imported here: it
    brings scikit-learn into the sender of a daemon that may have no model."""

    label: str
    confidence: float
    needs_review: bool
    corrected_by: str | None = None  # a person's label, not the model's


def load_planned(conn: Connection, row: Any) -> tuple[MailContext, Draft]:
    """What composing a planned row needs, read in one short transaction: the sender then
    composes with no transaction open, so ingest never waits for a template."""
    plan = json.loads(row.plan)
    source = plan.get("source") or {}
    case_id = source.get("inbound_id", row.inbound_id)
    raw = bytes(conn.execute(select(inbound.c.raw).where(inbound.c.id == case_id)).scalar_one())
    labels = source.get("labels")
    ctx = MailContext(
        ticket_ref=plan["ticket_ref"], ticket_id=row.ticket_id, inbound_id=row.inbound_id,
        is_followup=plan["is_followup"], automatic=plan["automatic"],
        parsed=parse_message(raw, plan.get("parse_limit")), raw=raw,
        predictions=_labels(labels) if labels is not None else stored_predictions(conn, case_id),
        mailbox=plan["mailbox"], received_at=datetime.fromisoformat(plan["received_at"]),
        owner_team=tuple(plan["owner_team"]), auto_reply=bool(plan.get("auto_reply")))
    return ctx, _draft(row, plan)


def _draft(row: Any, plan: dict[str, Any]) -> Draft:
    references = plan.get("references")
    return Draft(
        kind=row.kind, recipients=tuple(r for r in row.recipients.split(",") if r),
        subject=plan["subject"], language=plan["language"],
        decision=RouteDecision(tuple(plan["team"]), plan["triage"], plan["rule"]),
        message_id=row.message_id, date=datetime.fromisoformat(plan["date"]),
        extra=plan.get("extra") or {}, in_reply_to=plan.get("in_reply_to"),
        references=tuple(references) if references is not None else None)


def _labels(stored: dict[str, dict[str, Any]]) -> dict[str, StoredPrediction]:
    return {head: StoredPrediction(v["label"], float(v["confidence"]), bool(v["needs_review"]),
                                   v.get("corrected_by")) for head, v in stored.items()}


def stored_predictions(conn: Connection, inbound_id: int) -> dict[str, StoredPrediction]:
    """The message's predictions as the classify stage stored them (the latest per head)."""
    query = (select(predictions.c.head, predictions.c.label, predictions.c.confidence,
                    predictions.c.needs_review)
             .where(predictions.c.inbound_id == inbound_id).order_by(predictions.c.id))
    return {row.head: StoredPrediction(row.label, float(row.confidence), bool(row.needs_review))
            for row in conn.execute(query)}
