"""What we sent: Message-IDs of our outgoing mail, to thread replies, spot loops and
find the team that owns a ticket."""

from __future__ import annotations

from sqlalchemy import Connection, select

from pipeline.schema import outbox

TEAM_KINDS = ("route", "triage")


def ticket_of_sent(conn: Connection, message_ids: tuple[str, ...]) -> int | None:
    if not message_ids:
        return None
    return conn.execute(select(outbox.c.ticket_id).where(
        outbox.c.message_id.in_(message_ids), outbox.c.ticket_id.is_not(None)).limit(1)
    ).scalar()


def is_our_message_id(conn: Connection, message_id: str) -> bool:
    return conn.execute(select(outbox.c.id).where(outbox.c.message_id == message_id)
                        .limit(1)).first() is not None


def owner_team(conn: Connection, ticket_id: int) -> tuple[str, ...]:
    """The recipients of the ticket's latest routing (or triage) mail."""
    row = conn.execute(select(outbox.c.recipients).where(
        outbox.c.ticket_id == ticket_id, outbox.c.kind.in_(TEAM_KINDS))
        .order_by(outbox.c.id.desc()).limit(1)).scalar()
    return tuple(a for a in (row or "").split(",") if a)
