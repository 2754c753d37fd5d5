"""The one place that speaks IMAP: a thin adapter over imapclient.

Verbs are named after the protocol. Network and protocol failures come out as
FetchError so the caller can back off and reconnect; nothing here decides policy.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from pipeline.config import MailboxConfig
from pipeline.config.secrets import read_secret
from pipeline.errors import FetchError, LoginRefused

NETWORK_ERRORS = (OSError, IMAPClientError, ssl.SSLError, socket.timeout, EOFError)
EOF_WAKEUPS = 3  # empty IDLE wake-ups in a row that mean the server has gone


@dataclass(frozen=True)
class FolderStatus:
    uidvalidity: int
    uidnext: int
    exists: int


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class ImapConnection:
    """One logged-in connection to one mailbox; use as a context manager."""

    def __init__(self, cfg: MailboxConfig) -> None:
        self.cfg = cfg
        self.client: IMAPClient | None = None
        self.empty_wakeups = 0

    def __enter__(self) -> ImapConnection:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        cfg = self.cfg
        context = tls_context(cfg.ca_file)
        client: IMAPClient | None = None
        try:
            client = IMAPClient(cfg.host, port=cfg.port, ssl=cfg.scheme == "imaps",
                                ssl_context=context, timeout=cfg.timeout)
            if cfg.scheme == "imap" and cfg.starttls:
                client.starttls(context)
            self._login(client)
        except LoginError as exc:  # the server answered: the credentials are the problem
            _discard(client)
            mechanism = "XOAUTH2" if cfg.credentials.is_oauth2 else "LOGIN"
            raise LoginRefused(f"mailbox {cfg.name}: login refused: {cfg.host}:{cfg.port} refused "
                               f"the login of {cfg.username} ({mechanism}): {_describe(exc)}") from None
        except NETWORK_ERRORS as exc:
            _discard(client)
            raise FetchError(f"mailbox {cfg.name}: cannot connect to {cfg.host}:{cfg.port}: "
                             f"{_describe(exc)}") from None
        except BaseException:  # e.g. a SecretError: still no socket left behind
            _discard(client)
            raise
        self.client = client

    def _login(self, client: IMAPClient) -> None:
        secret = read_secret(self.cfg.credentials, f"mailboxes.{self.cfg.name}")
        if self.cfg.credentials.is_oauth2:
            client.oauth2_login(self.cfg.username, secret)
        else:
            client.login(self.cfg.username, secret)

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except NETWORK_ERRORS:
            client.shutdown() if hasattr(client, "shutdown") else None

    @property
    def imap(self) -> IMAPClient:
        if self.client is None:
            raise FetchError(f"mailbox {self.cfg.name}: not connected")
        return self.client

    def has(self, capability: str) -> bool:
        return self.imap.has_capability(capability)

    def select(self, folder: str) -> FolderStatus:
        info = self.imap.select_folder(folder)
        return FolderStatus(int(info[b"UIDVALIDITY"]), int(info.get(b"UIDNEXT", 0) or 0),
                            int(info.get(b"EXISTS", 0)))

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above last_uid; "N:*" always matches the highest UID, so filter it."""
        found = self.imap.search(["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in found if uid > last_uid)

    def fetch_raw(self, uids: list[int]) -> dict[int, bytes]:
        """Whole messages without touching \\Seen (BODY.PEEK)."""
        response = self.imap.fetch(uids, ["BODY.PEEK[]"])
        return {uid: data[b"BODY[]"] for uid, data in response.items() if b"BODY[]" in data}

    def ensure_folder(self, folder: str) -> None:
        if not self.imap.folder_exists(folder):
            self.imap.create_folder(folder)

    def can_move(self) -> bool:
        """MOVE, or COPY plus UID EXPUNGE. Without UIDPLUS only a plain EXPUNGE is left, and
        that also removes every message another client marked \\Deleted: we never send it."""
        return self.has("MOVE") or self.has("UIDPLUS")

    def move(self, uids: Iterable[int], folder: str) -> None:
        uids = list(uids)
        if self.has("MOVE"):
            self.imap.move(uids, folder)
            return
        if not self.has("UIDPLUS"):
            raise RuntimeError("no MOVE and no UIDPLUS: moving would need a plain EXPUNGE")
        self.imap.copy(uids, folder)
        self.imap.delete_messages(uids)
        self.imap.uid_expunge(uids)

    def flag(self, uids: Iterable[int], keyword: str) -> None:
        self.imap.add_flags(list(uids), [keyword.encode()], silent=True)

    def idle_start(self) -> None:
        self.imap.idle()

    def idle_wait(self, timeout: float) -> list:
        """IDLE responses within `timeout`. imapclient swallows EOF and returns nothing at
        once, so a dead connection would be polled in a loop forever: a BYE, or a socket
        that keeps waking up with nothing to read, is reported as a lost connection."""
        started = time.monotonic()
        responses = self.imap.idle_check(timeout=timeout)
        if any(isinstance(r, tuple) and r and r[0] == b"BYE" for r in responses):
            raise FetchError(f"mailbox {self.cfg.name}: the server closed the connection (BYE)")
        if responses or time.monotonic() - started >= timeout / 2:
            self.empty_wakeups = 0
        else:
            self.empty_wakeups += 1
            if self.empty_wakeups >= EOF_WAKEUPS:
                raise FetchError(f"mailbox {self.cfg.name}: connection closed by the server")
        return responses

    def idle_stop(self) -> None:
        self.imap.idle_done()


def _discard(client: IMAPClient | None) -> None:
    """Close the socket of a connection that never got logged in: the caller only keeps
    connections that did, so nothing else would ever close this one."""
    if client is not None:
        with contextlib.suppress(NETWORK_ERRORS):
            client.shutdown()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message}); set ca_file to trust a private CA"
    return text
