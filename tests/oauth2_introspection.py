"""A tiny OAuth2 token-introspection endpoint (RFC 7662) on loopback, run in a thread.

Dovecot's `oauth2` passdb asks it whether a bearer token is valid (see `Dovecot(
oauth2_introspection_url=...)` in tests/dovecot.py). It answers `{"active": true,
"username": USER}` for the tokens it was given and `{"active": false}` for any other, and
it records every token it was asked about, so a test can prove the server really checked
the token rather than the login being waved through some other way.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class IntrospectionServer:
    """Valid tokens live in `tokens` (token -> user name); `seen` lists each token asked about."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.seen: list[str] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="introspection",
                                       daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/introspect"

    def start(self) -> IntrospectionServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def grant(self, token: str, user: str) -> None:
        """From now on `token` is an active token of `user`."""
        with self.lock:
            self.tokens[token] = user

    def revoke(self, token: str) -> None:
        """The token expired or was revoked: introspection says inactive from now on."""
        with self.lock:
            self.tokens.pop(token, None)

    def asked_about(self, token: str) -> bool:
        with self.lock:
            return token in self.seen

    def answer(self, token: str | None) -> dict[str, object]:
        """The RFC 7662 answer: inactive tokens get only `active: false`, nothing else."""
        with self.lock:
            if token is not None:
                self.seen.append(token)
            user = self.tokens.get(token or "")
        return {"active": True, "username": user} if user else {"active": False}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # introspection_mode = post: form body token=...
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("utf-8"))
                self._reply(server.answer((form.get("token") or [None])[0]))

            def do_GET(self) -> None:  # introspection_mode = get (token appended) or auth
                auth = self.headers.get("Authorization") or ""
                token = auth[7:] if auth.startswith("Bearer ") else None
                query = parse_qs(urlsplit(self.path).query)
                self._reply(server.answer(token or (query.get("token") or [None])[0]))

            def _reply(self, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Silent: the request line would put tokens (mode `get`) into test output."""

        return Handler
