"""IMAP IDLE watcher: new mail is picked up within about a second of its arrival.

Each watcher holds its own connection (an IDLE connection can do nothing else), wakes the
mailbox's poller when the server announces EXISTS, and re-issues IDLE well before the
29-minute limit of RFC 2177. Without the IDLE capability it says so once and leaves the
mailbox to the scheduled poll. With several daemons only the one holding the mailbox's
lease IDLEs on it (ingest/ownership.py); the others wait, and take over when it dies.
"""

from __future__ import annotations

import logging
import threading
import time

from pipeline import backoff
from pipeline.errors import FetchError
from pipeline.ingest.imapconn import NETWORK_ERRORS, ImapConnection
from pipeline.ingest.poller import MAX_BACKOFF, MailboxPoller

log = logging.getLogger("triaje.idle")
REISSUE_SECONDS = 10 * 60
CHECK_SECONDS = 0.5
OWNER_CHECK_SECONDS = 1.0


class IdleWatcher(threading.Thread):
    def __init__(self, poller: MailboxPoller) -> None:
        super().__init__(name=f"idle:{poller.cfg.name}", daemon=True)
        self.poller = poller
        self.stop = poller.env.stop
        self.failures = 0
        self.ready = threading.Event()  # set once the first IDLE is issued (tests, benches)
        self.waited = False  # the mailbox was another daemon's: look once when taking it

    def run(self) -> None:
        while not self.stop.is_set():
            if not self.poller.owns():  # another daemon IDLEs on it; the poll job retries
                self.waited = True
                self.stop.wait(OWNER_CHECK_SECONDS)
                continue
            try:
                if not self._watch():
                    return
                self.failures = 0
            except (FetchError, *NETWORK_ERRORS) as exc:
                self._backoff(exc)
            except Exception as exc:  # anything else: never let the thread die, IDLE would stop
                self._backoff(exc)

    def _watch(self) -> bool:
        """Returns False when IDLE is not available (the watcher then ends)."""
        with ImapConnection(self.poller.cfg) as conn:
            if not conn.has("IDLE"):
                log.warning("mailbox=%s server has no IDLE: polling every %d s",
                            self.poller.cfg.name, self.poller.cfg.poll_interval)
                return False
            conn.select(self.poller.cfg.folder)
            log.info("mailbox=%s IDLE watcher ready", self.poller.cfg.name)
            if self.failures:  # mail that came while we were away announces nothing now
                log.info("mailbox=%s IDLE watcher connected again", self.poller.cfg.name)
                self.failures = 0
                self._wake()
            elif self.waited:
                self.waited = False
                self._wake()
            while not self.stop.is_set() and self.poller.owns():
                if self._idle_once(conn):
                    self._wake()
        return True

    def _idle_once(self, conn: ImapConnection) -> bool:
        conn.idle_start()
        self.ready.set()
        deadline = time.monotonic() + REISSUE_SECONDS
        try:
            while not self.stop.is_set() and time.monotonic() < deadline and self.poller.owns():
                responses = conn.idle_wait(CHECK_SECONDS)
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return True
            return False
        finally:
            conn.idle_stop()

    def _wake(self) -> None:
        try:
            self.poller.poll(force=True)
        except FetchError as exc:
            log.debug("mailbox=%s poll after IDLE wake failed: %s", self.poller.cfg.name, exc)
        self.poller.after_poll()

    def _backoff(self, exc: BaseException) -> None:
        self.failures += 1
        if self.failures == 1:
            log.error("mailbox=%s IDLE connection lost: %s (reconnecting with backoff)",
                      self.poller.cfg.name, exc)
        self.stop.wait(backoff.delay(self.failures, 1.0, MAX_BACKOFF))
