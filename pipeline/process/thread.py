"""Thread stage: a follow-up joins its ticket instead of opening a new one.

A reply is recognised by In-Reply-To/References naming a Message-ID we received or sent
for a ticket; a ticket reference in the subject counts only from a sender already on that
ticket, so a stranger cannot attach mail to someone else's case by typing its number.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from pipeline.db import utcnow
from pipeline.process import ownmail
from pipeline.process.parse import ParsedMessage
from pipeline.schema import inbound, tickets


@dataclass(frozen=True)
class TicketRef:
    id: int
    ref: str
    is_followup: bool


SET_TICKET = update(tickets).where(tickets.c.id == bindparam("row_id"))


def format_ref(prefix: str, ticket_id: int) -> str:
    return f"{prefix}-{ticket_id:06d}"


def find_followup(conn: Connection, parsed: ParsedMessage, prefix: str) -> TicketRef | None:
    ticket_id = _by_message_ids(conn, parsed.in_reply_to + parsed.references)
    if ticket_id is None:
        ticket_id = _by_subject_tag(conn, parsed, prefix)
    if ticket_id is None:
        return None
    ref = conn.execute(select(tickets.c.ref).where(tickets.c.id == ticket_id)).scalar_one()
    return TicketRef(ticket_id, ref, True)


def _by_message_ids(conn: Connection, ids: tuple[str, ...]) -> int | None:
    if not ids:
        return None
    found = conn.execute(select(inbound.c.ticket_id).where(
        inbound.c.message_id.in_(ids), inbound.c.ticket_id.is_not(None)).limit(1)).scalar()
    return found if found is not None else ownmail.ticket_of_sent(conn, ids)


def subject_tag(parsed: ParsedMessage, prefix: str) -> int | None:
    """The ticket number a subject names, when the message has a sender to check it by."""
    match = re.search(rf"\b{re.escape(prefix)}-(\d{{1,12}})\b", parsed.subject, re.IGNORECASE)
    return int(match.group(1)) if match and parsed.from_addr else None


def _by_subject_tag(conn: Connection, parsed: ParsedMessage, prefix: str) -> int | None:
    ticket_id = subject_tag(parsed, prefix)
    if ticket_id is None:
        return None
    on_ticket = conn.execute(select(inbound.c.id).where(
        inbound.c.ticket_id == ticket_id, inbound.c.sender == parsed.from_addr).limit(1)).first()
    return ticket_id if on_ticket else None


def open_ticket(conn: Connection, parsed: ParsedMessage, mailbox: str, prefix: str) -> TicketRef:
    ticket_id = conn.execute(tickets.insert(), ticket_values(parsed, mailbox, utcnow())
                             ).inserted_primary_key[0]
    ref = format_ref(prefix, ticket_id)
    conn.execute(SET_TICKET, {"row_id": ticket_id, "ref": ref})
    return TicketRef(ticket_id, ref, False)


def ticket_values(parsed: ParsedMessage, mailbox: str, now: datetime) -> dict[str, Any]:
    """A new ticket's row; its ref is set once the id is known."""
    return {"ref": f"pending-{uuid.uuid4().hex}", "mailbox": mailbox,  # unique until set
            "subject": parsed.subject[:1000], "requester": parsed.from_addr,
            "language": parsed.language, "status": "open", "created_at": now, "updated_at": now}


def attach(conn: Connection, parsed: ParsedMessage, mailbox: str, prefix: str) -> TicketRef:
    found = find_followup(conn, parsed, prefix)
    if found is None:
        return open_ticket(conn, parsed, mailbox, prefix)
    conn.execute(SET_TICKET, {"row_id": found.id, "updated_at": utcnow()})
    return found
