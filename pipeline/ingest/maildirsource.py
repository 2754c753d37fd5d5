"""Fetch stage for `maildir://` mailboxes: sites whose MTA delivers to local Maildirs.

The Maildir is only read, never changed (people and other tools use it too). Each file's
key is remembered in the inbound table; `start = "now"` ignores files older than the
first contact, recorded as a timestamp in the folder state.
"""

from __future__ import annotations

import logging
import mailbox
import os
import time
from pathlib import Path

from sqlalchemy import Engine, select

from pipeline.config import MailboxConfig
from pipeline.errors import FetchError
from pipeline.ingest import mailboxstate, rawstore
from pipeline.ingest.imapsource import FetchResult
from pipeline.ingest.mailboxstate import FolderState
from pipeline.ingest.rawstore import Origin
from pipeline.schema import inbound

log = logging.getLogger("triaje.fetch")
FOLDER = "maildir"


class MaildirFetcher:
    def __init__(self, cfg: MailboxConfig, engine: Engine) -> None:
        self.cfg, self.engine = cfg, engine

    def cycle(self, batch_done=None) -> FetchResult:
        box = self._open()
        cutoff = self._cutoff()
        with self.engine.connect() as db:
            known = set(db.execute(select(inbound.c.source_key).where(
                inbound.c.mailbox == self.cfg.name)).scalars())
        result = FetchResult()
        # dot-files are not messages (Maildir readers skip them; git keeps cur/.keep)
        fresh = sorted(k for k in box.iterkeys() if k not in known and not k.startswith("."))
        for start in range(0, len(fresh), self.cfg.batch_size):
            new_ids = self._store(box, fresh[start:start + self.cfg.batch_size], cutoff, result)
            if batch_done is not None:
                batch_done(new_ids)
        return result

    def _open(self) -> mailbox.Maildir:
        missing = [d for d in ("new", "cur") if not (Path(self.cfg.path) / d).is_dir()]
        if missing:
            raise FetchError(f"mailbox {self.cfg.name}: {self.cfg.path} is not a Maildir "
                             f"(no {' or '.join(d + '/' for d in missing)} folder)")
        return mailbox.Maildir(self.cfg.path, factory=None, create=False)

    def _cutoff(self) -> int:
        with self.engine.begin() as db:
            state = mailboxstate.load(db, self.cfg.name, FOLDER)
            if state is None:
                stamp = int(time.time()) if self.cfg.start == "now" else 0
                state = FolderState(0, stamp)
                mailboxstate.save(db, self.cfg.name, FOLDER, state)
        return state.last_uid

    def _store(self, box: mailbox.Maildir, keys: list[str], cutoff: int,
               result: FetchResult) -> list[int]:
        new_ids: list[int] = []
        with self.engine.begin() as db:
            for key in keys:
                path = Path(self.cfg.path) / box._lookup(key)
                if os.path.getmtime(path) < cutoff:
                    continue
                inbound_id = rawstore.store_raw(
                    db, Origin(self.cfg.name, FOLDER, source_key=key), path.read_bytes())
                if inbound_id is None:
                    result.duplicates += 1
                else:
                    new_ids.append(inbound_id)
        result.fetched += len(new_ids)
        result.new_ids.extend(new_ids)
        return new_ids
