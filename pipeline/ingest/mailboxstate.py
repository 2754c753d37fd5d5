"""Where each mailbox folder stands: (uidvalidity, last_uid), as getmail6 remembers it.

A UID means nothing without its UIDVALIDITY, so both are stored together and a
change of UIDVALIDITY is seen, never papered over.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update

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
    values = {"uidvalidity": state.uidvalidity, "last_uid": state.last_uid, "updated_at": utcnow()}
    done = conn.execute(update(mailbox_state).where(
        mailbox_state.c.mailbox == mailbox, mailbox_state.c.folder == folder).values(**values))
    if done.rowcount == 0:
        conn.execute(mailbox_state.insert().values(mailbox=mailbox, folder=folder, **values))
