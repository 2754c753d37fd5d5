"""Inbound rows: the raw bytes of every message, kept before anything else happens.

The unique dedupe key (Message-ID, else a hash of the bytes) is what makes "one message,
one registration" hold across re-polls, restarts, UIDVALIDITY resets and folders.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from pipeline.db import utcnow
from pipeline.parse import dedupe_key, peek_message_id
from pipeline.schema import inbound

FETCHED, PROCESSED, QUARANTINED = "fetched", "processed", "quarantined"


@dataclass(frozen=True)
class Origin:
    mailbox: str
    folder: str
    uidvalidity: int | None = None
    uid: int | None = None
    source_key: str | None = None


_BY_KEY = select(inbound.c.id).where(inbound.c.dedupe_key == bindparam("key"))


def store_raw(conn: Connection, origin: Origin, raw: bytes) -> int | None:
    """Insert the message unless it is already registered; returns the new id or None."""
    try:
        message_id = peek_message_id(raw)
    except Exception:  # a header block even compat32 cannot read: hash the bytes instead
        message_id = None
    key = dedupe_key(raw, message_id)
    if conn.execute(_BY_KEY, {"key": key}).first():
        return None
    values = dict(mailbox=origin.mailbox, folder=origin.folder, uidvalidity=origin.uidvalidity,
                  uid=origin.uid, source_key=origin.source_key, dedupe_key=key,
                  message_id=message_id, raw=raw, size=len(raw), state=FETCHED, attempts=0,
                  received_at=utcnow(), server_done=False)
    try:
        with conn.begin_nested():
            return conn.execute(inbound.insert(), values).inserted_primary_key[0]
    except IntegrityError:  # another daemon registered it a moment ago
        return None


def ids_in_state(conn: Connection, state: str, mailbox: str | None = None) -> list[int]:
    query = select(inbound.c.id).where(inbound.c.state == state).order_by(inbound.c.id)
    if mailbox is not None:
        query = query.where(inbound.c.mailbox == mailbox)
    return list(conn.execute(query).scalars())


def load_raw(conn: Connection, inbound_id: int) -> tuple[bytes, str]:
    row = conn.execute(select(inbound.c.raw, inbound.c.mailbox).where(
        inbound.c.id == inbound_id)).one()
    return bytes(row.raw), row.mailbox


def quarantine(engine: Engine, inbound_id: int, stage: str, reason: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(inbound).where(inbound.c.id == inbound_id).values(
            state=QUARANTINED, stage=stage, reason=reason[:4000], processed_at=utcnow(),
            attempts=inbound.c.attempts + 1))


def server_pending(conn: Connection, mailbox: str, folder: str, uidvalidity: int) -> list[int]:
    """UIDs committed here but not yet moved or flagged on the server (a crash in between)."""
    return list(conn.execute(select(inbound.c.uid).where(
        inbound.c.mailbox == mailbox, inbound.c.folder == folder,
        inbound.c.uidvalidity == uidvalidity, inbound.c.server_done.is_(False),
        inbound.c.uid.is_not(None))).scalars())


def mark_server_done(conn: Connection, mailbox: str, folder: str, uidvalidity: int,
                     uids: list[int]) -> None:
    conn.execute(update(inbound).where(
        inbound.c.mailbox == mailbox, inbound.c.folder == folder,
        inbound.c.uidvalidity == uidvalidity, inbound.c.uid.in_(uids)).values(server_done=True))
