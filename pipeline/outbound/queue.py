"""The queue: planned mail written in the processing transaction, so a ticket and its
mails exist together or not at all. Nothing here sends or composes; the sender does."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from pipeline.db import as_utc, utcnow
from pipeline.outbound import policy
from pipeline.outbound.mail import OutgoingMail
from pipeline.schema import outbox

log = logging.getLogger("triaje.outbox")


@dataclass(frozen=True)
class Enqueued:
    ids: list[int]
    skipped: list[str]


def enqueue(conn: Connection, mails: list[OutgoingMail]) -> list[int]:
    """Queue mails in the caller's open transaction (no commit); returns the new row ids."""
    return enqueue_detailed(conn, mails).ids


def enqueue_detailed(conn: Connection, mails: list[OutgoingMail],
                     now: datetime | None = None) -> Enqueued:
    """Like `enqueue`, also saying which mails were not queued and why (each is logged)."""
    now = as_utc(now or utcnow())
    ids: list[int] = []
    skipped: list[str] = []
    for mail in mails:
        reason = _refusal(conn, mail, now)
        if reason:
            skipped.append(not_queued(mail, reason))
            continue
        ids.append(conn.execute(outbox.insert(), row_values(mail, now)).inserted_primary_key[0])
    return Enqueued(ids, skipped)


def _refusal(conn: Connection, mail: OutgoingMail, now: datetime) -> str | None:
    if mail.inbound_id is not None and _exists(conn, mail.inbound_id, mail.kind):
        return f"message {mail.inbound_id} already has a queued {mail.kind}"
    if mail.recipient_limit is not None:
        for address in mail.recipients:
            reason = policy.limit_reason(conn, address, mail.recipient_limit, now)
            if reason:
                return reason
    return None


def _exists(conn: Connection, inbound_id: int, kind: str) -> bool:
    query = select(outbox.c.id).where(outbox.c.inbound_id == inbound_id, outbox.c.kind == kind)
    return conn.execute(query.limit(1)).first() is not None


def not_queued(mail: OutgoingMail, reason: str) -> str:
    """Log why a mail is not queued; returns the sentence (shared with the batch writer)."""
    log.warning("not queued: %s %s to %s: %s", mail.kind, mail.message_id,
                ",".join(mail.recipients), reason)
    return f"{mail.kind} {mail.message_id}: {reason}"


def row_values(mail: OutgoingMail, now: datetime) -> dict[str, Any]:
    return {
        "ticket_id": mail.ticket_id, "inbound_id": mail.inbound_id, "kind": mail.kind,
        "recipients": ",".join(mail.recipients), "message_id": mail.message_id,
        "raw": None, "plan": mail.plan, "state": "queued", "attempts": 0,
        "next_attempt_at": now, "created_at": now,
    }
