"""The raw store: the bytes of every message, committed before anything else happens.

The unique dedupe key (Message-ID, else a hash of the bytes) is what makes "one message,
one registration" hold across re-polls, restarts, UIDVALIDITY resets and folders.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from pipeline.db import utcnow
from pipeline.process.parse import dedupe_key, peek_message_id
from pipeline.schema import FETCHED, inbound


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
