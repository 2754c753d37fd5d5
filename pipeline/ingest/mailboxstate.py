"""Where each mailbox folder stands: (uidvalidity, last_uid), as getmail6 remembers it.

A UID means nothing without its UIDVALIDITY, so both are stored together and a
change of UIDVALIDITY is seen, never papered over. Under one UIDVALIDITY `last_uid` only
moves forward: a fetcher that lost its mailbox lease mid-cycle, or a `poll --once` beside
the daemon, may save an older position, and that must not make anyone fetch again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.exc import IntegrityError

from pipeline.db import utcnow
from pipeline.schema import mailbox_state


@dataclass(frozen=True)
class FolderState:
    uidvalidity: int
    last_uid: int


def load(conn: Connection, mailbox: str, folder: str) -> FolderState | None:
    row = conn.execute(select(mailbox_state.c.uidvalidity, mailbox_state.c.last_uid).where(
        mailbox_state.c.mailbox == mailbox, mailbox_state.c.folder == folder)).first()
    return FolderState(row.uidvalidity, row.last_uid) if row else None


def save(conn: Connection, mailbox: str, folder: str, state: FolderState) -> None:
    if _update(conn, mailbox, folder, state):
        return
    if load(conn, mailbox, folder) is not None:
        # At or past this position, or another daemon's first contact committed between the
        # two statements (PostgreSQL reads each statement afresh): try the move once more.
        _update(conn, mailbox, folder, state)
        return
    values = {"uidvalidity": state.uidvalidity, "last_uid": state.last_uid, "updated_at": utcnow()}
    try:
        with conn.begin_nested():
            conn.execute(mailbox_state.insert().values(mailbox=mailbox, folder=folder, **values))
    except IntegrityError:  # another daemon's first contact, at the same moment
        _update(conn, mailbox, folder, state)


def _update(conn: Connection, mailbox: str, folder: str, state: FolderState) -> bool:
    return conn.execute(update(mailbox_state).where(
        mailbox_state.c.mailbox == mailbox, mailbox_state.c.folder == folder,
        or_(mailbox_state.c.uidvalidity != state.uidvalidity,
            mailbox_state.c.last_uid < state.last_uid))
        .values(uidvalidity=state.uidvalidity, last_uid=state.last_uid,
                updated_at=utcnow())).rowcount == 1
