"""Shared fixtures: a real Dovecot for the session, a fresh desk mailbox per test, and the
database each test uses.

TRIAJE_TEST_DATABASE=postgresql (tests/run.sh sets it for its second pass) gives every test
that asks for `database_url` a fresh database in a PostgreSQL cluster of the session's own;
otherwise it is a SQLite file in the test's tmp_path.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from imapclient import IMAPClient

sys.path.insert(0, str(Path(__file__).parent))

from dovecot import Dovecot

_counter = itertools.count(1)
ENGINE = os.environ.get("TRIAJE_TEST_DATABASE", "sqlite")
if ENGINE not in ("sqlite", "postgresql"):
    raise RuntimeError(f"TRIAJE_TEST_DATABASE={ENGINE!r}: use sqlite or postgresql")


def pytest_report_header() -> str:
    return f"database engine: {ENGINE} (TRIAJE_TEST_DATABASE)"


@pytest.fixture(scope="session")
def postgres():
    from postgres import Postgres

    server = Postgres().start()
    yield server
    server.cleanup()


@contextmanager
def fresh_database(request, tmp_path, name: str = "triaje") -> Iterator[str]:
    """A fresh, empty database on the engine of this run, dropped afterwards."""
    if ENGINE == "sqlite":
        yield f"sqlite:///{tmp_path / (name + '.db')}"
        return
    server = request.getfixturevalue("postgres")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)


@pytest.fixture
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database for this test, on the engine of this run."""
    with fresh_database(request, tmp_path) as url:
        yield url


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

    def __init__(self, server: Dovecot, user: str, database_url: str | None = None) -> None:
        self.server, self.user, self.database_url = server, user, database_url
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
        url = self.database_url or f"sqlite:///{tmp_path / 'triaje.db'}"
        return {"database": {"url": url}, "mailboxes": [box],
                "desk": {"addresses": ["desk@example.org"]},
                "classifier": {"models_dir": str(tmp_path / "models")}}


@pytest.fixture
def deskbox(dovecot: Dovecot, database_url: str) -> DeskBox:
    return DeskBox(dovecot, f"desk{next(_counter)}", database_url)
