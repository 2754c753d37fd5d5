"""Mails the SMTP server accepted, written down the moment it said so.

Marking an outbox row sent is a database transaction, and with SQLite it may wait for the
write lock an ingest batch holds. A crash during that wait meant a resend after the lease
(same bytes, same Message-ID): 13 in the 10,000-message, 100-kill soak once the sender ran
beside ingest. The journal narrows the window to one write(2): a line per accepted mail,
appended right after the 250, applied to the database before the next drain claims
anything, then removed. A line written and then lost with the machine (no fsync) only
brings back the resend it was meant to avoid; it never loses a mail.

The journal lives beside a SQLite database file (`triaje.db.sent`); with another database
there is no local file every sender would share, so there is none (the window stays).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from sqlalchemy import Engine, update

from pipeline.db import utcnow
from pipeline.schema import outbox

log = logging.getLogger(__name__)
NOTE = "accepted by the server before a restart (from the sent journal)"


class SentJournal:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    @classmethod
    def for_engine(cls, engine: Engine) -> SentJournal:
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
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
    now, marked = utcnow(), 0
    with engine.begin() as conn:
        for row_id, message_id in entries:
            marked += conn.execute(update(outbox).where(
                outbox.c.id == row_id, outbox.c.message_id == message_id,
                outbox.c.state == "queued").values(
                state="sent", sent_at=now, last_error=NOTE)).rowcount
    return marked
