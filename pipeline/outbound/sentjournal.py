"""Mails the SMTP server accepted, written down the moment it said so.

Marking an outbox row sent is a database transaction, and with SQLite it may wait for the
write lock an ingest batch holds. A crash during that wait meant a resend after the lease
(same bytes, same Message-ID): 13 in the 10,000-message, 100-kill soak once the sender ran
beside ingest. The journal narrows the window to one write(2): a line per accepted mail,
appended right after the 250, applied to the database before the next drain claims
anything, then removed. A line written and then lost with the machine (no fsync) only
brings back the resend it was meant to avoid; it never loses a mail.

The journal lives beside a SQLite database file (`triaje.db.sent`). With PostgreSQL it is
a table (`sent_journal`): one INSERT of a new key in its own transaction, which waits for
no lock another transaction can hold (the mark may: the row is claimed, and other
daemons' claims and drains look at it), and which every daemon sees, so the one that
takes a dead sender's rows over applies its journal too.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, select, update

from pipeline.db import utcnow
from pipeline.schema import outbox, sent_journal

log = logging.getLogger(__name__)
NOTE = "accepted by the server before a restart (from the sent journal)"


class SentJournal:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    @classmethod
    def for_engine(cls, engine: Engine) -> SentJournal | TableJournal:
        database = engine.url.database
        if engine.dialect.name != "sqlite":
            return TableJournal(engine)
        if not database or database == ":memory:":
            return cls(None)
        return cls(Path(f"{database}.sent"))

    def record(self, row_id: int, message_id: str) -> None:
        """One line per accepted mail; a failure to write is logged, never raised (the mail
        is out: the database mark that follows is what counts)."""
        if self.path is None:
            return
        line = f"{row_id} {message_id}\n".encode("utf-8", "replace")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("sent journal %s: cannot write (%s)", self.path, exc.strerror)

    def apply(self, engine: Engine) -> int:
        """Mark every journalled row still queued as sent; returns how many were."""
        if self.path is None:
            return 0
        taken = self.path.with_name(f"{self.path.name}.{os.getpid()}")
        try:
            os.replace(self.path, taken)  # later appends start a new journal
        except FileNotFoundError:
            return 0
        entries = _read(taken)
        marked = _mark(engine, entries)
        if marked:
            log.warning("outbox: %d mail(s) the server accepted before a restart marked sent "
                        "from the sent journal, not sent again", marked)
        with contextlib.suppress(FileNotFoundError):
            taken.unlink()
        return marked


class TableJournal:
    """The journal as a table, for a database several hosts share (PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, row_id: int, message_id: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(sent_journal.insert().values(
                    outbox_id=row_id, message_id=message_id, accepted_at=utcnow()))
        except Exception as exc:  # the mail is out; the mark that follows is what counts
            log.warning("sent journal: cannot write (%s)", type(exc).__name__)

    def apply(self, engine: Engine) -> int:
        with engine.begin() as conn:
            entries = [(r.outbox_id, r.message_id) for r in conn.execute(
                select(sent_journal.c.outbox_id, sent_journal.c.message_id)
                .with_for_update(skip_locked=True))]
            if not entries:
                return 0
            marked = _mark_in(conn, entries)
            conn.execute(delete(sent_journal).where(
                sent_journal.c.outbox_id.in_([row_id for row_id, _ in entries])))
        if marked:
            log.warning("outbox: %d mail(s) the server accepted before a restart marked sent "
                        "from the sent journal, not sent again", marked)
        return marked


def _read(path: Path) -> list[tuple[int, str]]:
    entries = []
    for line in path.read_bytes().decode("utf-8", "replace").splitlines():
        row_id, _, message_id = line.partition(" ")
        if row_id.isdigit() and message_id:
            entries.append((int(row_id), message_id))
    return entries


def _mark(engine: Engine, entries: list[tuple[int, str]]) -> int:
    if not entries:
        return 0
    with engine.begin() as conn:
        return _mark_in(conn, entries)


def _mark_in(conn: Connection, entries: list[tuple[int, str]]) -> int:
    now, marked = utcnow(), 0
    for row_id, message_id in entries:
        marked += conn.execute(update(outbox).where(
            outbox.c.id == row_id, outbox.c.message_id == message_id,
            outbox.c.state == "queued").values(
            state="sent", sent_at=now, last_error=NOTE)).rowcount
    return marked
