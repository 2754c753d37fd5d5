"""Fetch stage: new messages from an IMAP folder into the database, nothing lost or doubled.

Order per batch: FETCH BODY.PEEK[] -> commit raw bytes and the new last_uid in one
transaction -> only then MOVE or flag on the server. A crash between commit and MOVE leaves
rows with server_done = false, finished on the next cycle; a crash before the commit
refetches, and the dedupe key drops the copy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Engine

from pipeline.config import MailboxConfig
from pipeline.ingest import mailboxstate, rawstore
from pipeline.ingest.imapconn import ImapConnection
from pipeline.ingest.mailboxstate import FolderState
from pipeline.ingest.rawstore import Origin

log = logging.getLogger("triaje.fetch")


@dataclass
class FetchResult:
    fetched: int = 0
    duplicates: int = 0
    new_ids: list[int] = field(default_factory=list)
    uidvalidity_reset: bool = False


_warned: set[str] = set()


def _say_once(mailbox: str, keyword: str) -> None:
    if mailbox not in _warned:
        _warned.add(mailbox)
        log.warning("mailbox=%s the server has neither MOVE nor UIDPLUS: processed mail is "
                    "flagged %s and left in place instead of moved (a plain EXPUNGE would also "
                    "remove what other clients marked deleted)", mailbox, keyword)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class ImapFetcher:
    """Runs one fetch cycle of one mailbox folder over an open connection."""

    def __init__(self, cfg: MailboxConfig, engine: Engine) -> None:
        self.cfg, self.engine = cfg, engine

    def cycle(self, conn: ImapConnection, batch_done=None) -> FetchResult:
        status = conn.select(self.cfg.folder)
        state, reset = self._starting_state(status.uidvalidity, status.uidnext)
        result = FetchResult(uidvalidity_reset=reset)
        self._finish_server_ops(conn, status.uidvalidity)
        uids = conn.uids_after(state.last_uid)
        for batch in _chunks(uids, self.cfg.batch_size):
            new_ids, dupes = self._store_batch(conn, status.uidvalidity, batch)
            self._server_ops(conn, status.uidvalidity, batch)
            result.fetched += len(new_ids)
            result.duplicates += dupes
            result.new_ids.extend(new_ids)
            if batch_done is not None:
                batch_done(new_ids)
        return result

    def _starting_state(self, uidvalidity: int, uidnext: int) -> tuple[FolderState, bool]:
        """Where to continue, and whether UIDVALIDITY changed since last time."""
        with self.engine.begin() as db:
            state = mailboxstate.load(db, self.cfg.name, self.cfg.folder)
            reset = state is not None and state.uidvalidity != uidvalidity
            if state is None:
                start = max(uidnext - 1, 0) if self.cfg.start == "now" else 0
                state = FolderState(uidvalidity, start)
                log.info("mailbox=%s folder=%s first contact: starting at uid %d (start=%s)",
                         self.cfg.name, self.cfg.folder, start, self.cfg.start)
            elif reset:
                log.warning("mailbox=%s folder=%s UIDVALIDITY changed %d -> %d: rescanning the "
                            "folder, duplicates are dropped by Message-ID", self.cfg.name,
                            self.cfg.folder, state.uidvalidity, uidvalidity)
                state = FolderState(uidvalidity, 0)
            else:
                return state, False
            mailboxstate.save(db, self.cfg.name, self.cfg.folder, state)
        return state, reset

    def _store_batch(self, conn: ImapConnection, uidvalidity: int,
                     batch: list[int]) -> tuple[list[int], int]:
        messages = conn.fetch_raw(batch)
        new_ids: list[int] = []
        with self.engine.begin() as db:
            for uid in sorted(messages):
                origin = Origin(self.cfg.name, self.cfg.folder, uidvalidity, uid)
                inbound_id = rawstore.store_raw(db, origin, messages[uid])
                if inbound_id is not None:
                    new_ids.append(inbound_id)
                    log.debug("mailbox=%s uid=%d stored as inbound %d", self.cfg.name, uid,
                              inbound_id)
            last = max(batch)
            mailboxstate.save(db, self.cfg.name, self.cfg.folder, FolderState(uidvalidity, last))
        vanished = set(batch) - set(messages)
        if vanished:
            log.info("mailbox=%s uids %s vanished before they could be fetched (expunged by "
                     "someone else)", self.cfg.name, sorted(vanished)[:10])
        return new_ids, len(messages) - len(new_ids)

    def _finish_server_ops(self, conn: ImapConnection, uidvalidity: int) -> None:
        with self.engine.connect() as db:
            pending = rawstore.server_pending(db, self.cfg.name, self.cfg.folder, uidvalidity)
        if pending:
            log.info("mailbox=%s finishing server-side marking of %d messages committed before a "
                     "restart", self.cfg.name, len(pending))
            for batch in _chunks(sorted(pending), self.cfg.batch_size):
                self._server_ops(conn, uidvalidity, batch)

    def _server_ops(self, conn: ImapConnection, uidvalidity: int, uids: list[int]) -> None:
        if self.cfg.processed_folder and conn.can_move():
            conn.ensure_folder(self.cfg.processed_folder)
            conn.move(uids, self.cfg.processed_folder)
        else:
            if self.cfg.processed_folder:
                _say_once(self.cfg.name, self.cfg.flag_keyword)
            conn.flag(uids, self.cfg.flag_keyword)
        with self.engine.begin() as db:
            rawstore.mark_server_done(db, self.cfg.name, self.cfg.folder, uidvalidity, uids)
