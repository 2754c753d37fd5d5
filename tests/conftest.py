"""Shared fixtures: a real Dovecot for the session, a fresh desk mailbox per test."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from imapclient import IMAPClient

sys.path.insert(0, str(Path(__file__).parent))

from dovecot import Dovecot

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot().start()
    yield server
    server.cleanup()


def make_mail(subject: str = "La impresora no imprime", body: str = "Hola, no imprime.",
              sender: str = "ana@example.com", to: str = "desk@example.org",
              message_id: str | None = None, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="example.com")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return bytes(msg)


class DeskBox:
    """A fresh Dovecot user for one test, with helpers to put mail in it."""

    def __init__(self, server: Dovecot, user: str) -> None:
        self.server, self.user = server, user
        self.password = server.add_user(user)

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.server.imap_port, ssl=False)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX", flags: tuple = ()) -> None:
        with self.client() as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            c.append(folder, raw, flags=flags)

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            return c.search()

    def flags(self, folder: str = "INBOX") -> dict[int, tuple]:
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            return {uid: d[b"FLAGS"] for uid, d in c.fetch(c.search(), ["FLAGS"]).items()}

    def config(self, tmp_path: Path, monkeypatch, **mailbox: object) -> dict:
        monkeypatch.setenv("TRIAJE_TEST_PW", self.password)
        box = {"name": "desk", "url": f"imap://{self.user}@127.0.0.1:{self.server.imap_port}/INBOX",
               "password_env": "TRIAJE_TEST_PW", "start": "all", "idle": False,
               "poll_interval": 60, **mailbox}
        return {"database": {"url": f"sqlite:///{tmp_path / 'triaje.db'}"}, "mailboxes": [box],
                "desk": {"addresses": ["desk@example.org"]},
                "classifier": {"models_dir": str(tmp_path / "models")}}


@pytest.fixture
def deskbox(dovecot: Dovecot) -> DeskBox:
    return DeskBox(dovecot, f"desk{next(_counter)}")
