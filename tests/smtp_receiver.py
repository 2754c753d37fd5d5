"""A real SMTP server on loopback (aiosmtpd) that records every message it accepts.

Import the fixture into a test module with `from tests.smtp_receiver import smtp_receiver`
(or `from smtp_receiver import smtp_receiver`), or start a `Receiver` by hand to stop and
restart it on the same port (a server that goes down and comes back).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # exactly the DATA bytes, dot-unstuffed, as the server got them
    login: str | None = None


@dataclass
class Recorder:
    """aiosmtpd handler: keeps messages; `refuse` maps a recipient to an SMTP reply;
    `delay` seconds pass between the end of DATA and the reply (a slow server: the client
    waits for its 250 that long; other connections are served meanwhile)."""

    messages: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content, login))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    """Start/stop wrapper around aiosmtpd's Controller, keeping port and recorder."""

    def __init__(self, port: int | None = None, users: dict[str, str] | None = None,
                 tls_context: ssl.SSLContext | None = None) -> None:
        """`users` turns on AUTH (login -> password); `tls_context` offers and requires STARTTLS."""
        self.port = port or free_port()
        self.recorder = Recorder()
        self.users = users
        self.tls_context = tls_context
        self.controller: Controller | None = None

    @property
    def messages(self) -> list[Received]:
        return self.recorder.messages

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        kwargs = {}
        if self.users is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        if self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=True)
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (self.users is not None and getattr(auth_data, "login", None) is not None
              and self.users.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


@pytest.fixture
def smtp_receiver():
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
