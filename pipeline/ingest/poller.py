"""One poll cycle per mailbox: fetch new mail, then run the stages on it.

A MailboxPoller keeps its IMAP connection between cycles (a login per cycle would cost
more than the fetch) and drops it on any network error; the next cycle reconnects, after
a backoff that grows while the server stays unreachable. Errors are logged once per
episode, not once per retry.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.exc import OperationalError

from pipeline import backoff
from pipeline.config import MailboxConfig
from pipeline.errors import FetchError, LoginRefused, TokenCommandError
from pipeline.ingest.imapconn import NETWORK_ERRORS, ImapConnection
from pipeline.ingest.imapsource import FetchResult, ImapFetcher
from pipeline.ingest.maildirsource import MaildirFetcher
from pipeline.ingest.ownership import Ownership
from pipeline.monitor import counters
from pipeline.process import runner
from pipeline.process.runner import Summary
from pipeline.services import Services

log = logging.getLogger("triaje.poll")
MAX_BACKOFF = 300.0


class MailboxPoller:
    def __init__(self, env: Services, cfg: MailboxConfig, after=None, once: bool = False,
                 ownership: Ownership | None = None, process: bool = True) -> None:
        self.env, self.cfg, self.after, self.once = env, cfg, after, once
        self.ownership = ownership  # the daemon's mailbox leases; None: fetch regardless
        self.process = process  # False: processing workers (process/workers.py) claim the mail
        self.conn: ImapConnection | None = None
        self.lock = threading.Lock()
        self.failures = 0
        self.retry_at = 0.0

    def poll(self, force: bool = False) -> Summary:
        """One cycle; raises FetchError when the mailbox cannot be reached."""
        with self.lock:
            if not force and time.monotonic() < self.retry_at:
                raise FetchError(f"mailbox {self.cfg.name}: waiting before reconnecting")
            try:
                summary = runner.process_pending(self.env, self.cfg.name) if self.process else Summary()
                if not self._may_fetch_now():
                    return summary  # another daemon fetches this mailbox
                result = self._fetch(summary)
            except (FetchError, TokenCommandError, *NETWORK_ERRORS) as exc:
                # a token command failing now (identity provider down) is an outage like
                # any other, retried with backoff; the other mailboxes go on
                self._failed(exc)
                raise FetchError(self._about(exc)) from None
            except OperationalError as exc:  # database locked or gone: back off the same way
                self._failed(exc, "cannot use the database")
                raise FetchError(f"mailbox {self.cfg.name}: database: {exc.orig}") from None
            self._recovered()
            counters.polled(self.cfg.name)
            counters.duplicates(self.cfg.name, result.duplicates)
            summary.fetched += result.fetched
            summary.duplicates += result.duplicates
            return summary

    def _may_fetch_now(self) -> bool:
        if self.ownership is not None and not self.ownership.take(self.cfg.name):
            self.close_connection()
            return False
        return True

    def owns(self) -> bool:
        """May this daemon IDLE on the mailbox (it holds its lease)?"""
        return self.ownership is None or self.ownership.owns(self.cfg.name)

    def _about(self, exc: BaseException) -> str:
        """The error as one line that names the mailbox once."""
        text, prefix = str(exc), f"mailbox {self.cfg.name}:"
        return text if text.startswith(prefix) else f"{prefix} {text}"

    def after_poll(self) -> None:
        """Signal what must follow new mail at once (the daemon wakes its outbox sender)."""
        if self.after is not None:
            self.after()

    def _fetch(self, summary: Summary) -> FetchResult:
        def batch_done(ids: list[int]) -> None:
            if self.process:
                runner.process_ids(self.env, ids, summary)
            self.after_poll()  # the daemon's sender starts on this batch's mail now

        if self.cfg.is_maildir:
            return MaildirFetcher(self.cfg, self.env.engine).cycle(batch_done)
        reused = self.conn is not None
        try:
            return ImapFetcher(self.cfg, self.env.engine).cycle(self._connection(), batch_done)
        except NETWORK_ERRORS:
            if not reused:
                raise
        # the kept connection was dropped meanwhile (server restart, idle timeout): that is
        # no outage, so try once more on a fresh one; every step of a cycle is idempotent
        log.info("mailbox=%s kept connection was closed by the server; reconnecting", self.cfg.name)
        self.close_connection()
        return ImapFetcher(self.cfg, self.env.engine).cycle(self._connection(), batch_done)

    def _connection(self) -> ImapConnection:
        if self.conn is None:
            conn = ImapConnection(self.cfg)
            conn.connect()
            self.conn = conn
        return self.conn

    def close_connection(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _failed(self, exc: BaseException, what: str = "unreachable") -> None:
        """Back off, and say so once per episode; a one-off poll says it once, in poll_once."""
        self.close_connection()
        counters.poll_failed(self.cfg.name, _error_kind(exc))
        self.failures += 1
        self.retry_at = time.monotonic() + backoff.delay(self.failures, 1.0, MAX_BACKOFF)
        if self.failures == 1 and not self.once:
            detail = str(getattr(exc, "orig", None) or exc)
            if isinstance(exc, LoginRefused):
                what, detail = "login refused", detail.split("login refused: ", 1)[-1]
            log.error("mailbox=%s %s: %s (retrying with backoff)", self.cfg.name, what, detail)

    def _recovered(self) -> None:
        if self.failures:
            log.info("mailbox=%s reachable again after %d failed attempts", self.cfg.name,
                     self.failures)
        self.failures, self.retry_at = 0, 0.0

    def close(self) -> None:
        with self.lock:
            self.close_connection()


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, TokenCommandError):
        return "token"
    return "database" if isinstance(exc, OperationalError) else "connection"


def poll_once(env: Services) -> tuple[Summary, list[str]]:
    """Every mailbox once; returns the summary and the mailboxes that failed."""
    total, failed = Summary(), []
    for cfg in env.config.mailboxes:
        poller = MailboxPoller(env, cfg, once=True)
        try:
            total.add(poller.poll(force=True))
        except FetchError as exc:
            log.error("%s", exc)
            failed.append(cfg.name)
        finally:
            poller.close()
    return total, failed
