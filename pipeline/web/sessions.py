"""Server-side sessions: the cookie holds a random token, the database its sha256, the
user and the session's CSRF token. Logging out or a new password deletes the row, so
the cookie is worthless at once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, select

from pipeline.db import as_utc, utcnow
from pipeline.schema import users, web_sessions

COOKIE = "triaje_session"
LOGIN_COOKIE = "triaje_login"  # the login form's CSRF token (double submit), before a session


@dataclass(frozen=True)
class Session:
    id: str  # the sha256, as stored
    user_id: int
    name: str
    role: str
    language: str | None
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(engine: Engine, user: dict[str, Any], hours: int) -> tuple[str, Session]:
    """A new session; returns the cookie value (shown once, never stored) and the session."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))
        conn.execute(web_sessions.insert().values(
            id=digest(token), user_id=user["id"], csrf_token=csrf, created_at=now,
            expires_at=now + timedelta(hours=hours)))
    return token, Session(digest(token), user["id"], user["name"], user["role"], user.get("language"),
                          csrf)


def lookup(engine: Engine, token: str | None) -> Session | None:
    if not token or len(token) > 200:
        return None
    query = (select(web_sessions.c.id, web_sessions.c.user_id, web_sessions.c.csrf_token,
                    web_sessions.c.expires_at, users.c.name, users.c.role, users.c.language)
             .join(users, users.c.id == web_sessions.c.user_id)
             .where(web_sessions.c.id == digest(token)))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or as_utc(row.expires_at) < utcnow():
        return None
    return Session(row.id, row.user_id, row.name, row.role, row.language, row.csrf_token)


def end(engine: Engine, session_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.id == session_id))
