"""What we sent: Message-IDs of our outgoing mail, to thread replies and to spot loops."""

from __future__ import annotations

from sqlalchemy import Connection, select

from pipeline.schema import metadata


def _outbox():
    return metadata.tables.get("outbox")


def ticket_of_sent(conn: Connection, message_ids: tuple[str, ...]) -> int | None:
    outbox = _outbox()
    if outbox is None or not message_ids:
        return None
    return conn.execute(select(outbox.c.ticket_id).where(
        outbox.c.message_id.in_(message_ids), outbox.c.ticket_id.is_not(None)).limit(1)
    ).scalar()


def is_our_message_id(conn: Connection, message_id: str) -> bool:
    return ticket_of_sent(conn, (message_id,)) is not None or _any_sent(conn, message_id)


def _any_sent(conn: Connection, message_id: str) -> bool:
    outbox = _outbox()
    if outbox is None:
        return False
    return conn.execute(select(outbox.c.id).where(outbox.c.message_id == message_id)
                        .limit(1)).first() is not None
