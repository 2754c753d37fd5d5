"""Register: the inbound row becomes processed, with its ticket, its text and predictions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, update

from pipeline.db import fit_index, utcnow
from pipeline.errors import ClaimLost
from pipeline.process.work import BODY_LIMIT, SUBJECT_LIMIT, Work
from pipeline.schema import PROCESSED, PROCESSING, inbound, predictions
from pipeline.services import Services
from pipeline.tracking.corrections import summary

# Built once: composing a statement costs more than running it (measured with cProfile).
# Conditional on our claim: the runner's hold() already checked it in this transaction,
# this makes a lost claim fail the message's savepoint rather than overwrite a result.
REGISTER = update(inbound).where(inbound.c.id == bindparam("row_id"),
                                  inbound.c.state == PROCESSING,
                                  inbound.c.claimed_by == bindparam("owner"))


def stage_register(work: Work, env: Services) -> None:
    conn, now = work.need_conn(), utcnow()
    _register(conn, register_values(work, env, now))
    rows = prediction_rows(work, env, now)
    if rows:
        conn.execute(predictions.insert(), rows)


def register_values(work: Work, env: Services, now: datetime) -> dict[str, Any]:
    """The inbound row's new values (for REGISTER), shared with the batch writer."""
    parsed, ticket = work.need_parsed(), work.need_ticket("register")
    values: dict[str, Any] = {
        "row_id": work.inbound_id, "owner": env.instance, "state": PROCESSED, "stage": None,
        "reason": None, "lease_until": None,
        "processed_at": now, "ticket_id": ticket.id, "is_followup": ticket.is_followup,
        "automatic": work.verdict.automatic, "auto_reason": work.verdict.reason,
        "sender": fit_index(parsed.from_addr) if parsed.from_addr else None,
        "subject": parsed.subject[:SUBJECT_LIMIT],
        "language": parsed.language, "body_text": parsed.clean_text[:BODY_LIMIT],
        "notes": "\n".join(parsed.notes) or None}
    if work.correction is not None:  # an agent's correction: no predictions of its own
        values.update(automatic=False, auto_reason="label correction",
                      notes=summary(work.correction, parsed.from_addr))
    return values


def prediction_rows(work: Work, env: Services, now: datetime) -> list[dict[str, Any]]:
    if work.correction is not None or not work.predictions:
        return []
    version = env.model.version if env.model is not None else ""
    return [{"inbound_id": work.inbound_id, "head": head, "label": pred.label,
             "confidence": float(pred.confidence), "needs_review": bool(pred.needs_review),
             "review_reason": getattr(pred, "reason", None), "model_version": version,
             "created_at": now}
            for head, pred in work.predictions.items()]


def _register(conn: Connection, values: dict[str, Any]) -> None:
    if conn.execute(REGISTER, values).rowcount != 1:
        raise ClaimLost(values["row_id"])
