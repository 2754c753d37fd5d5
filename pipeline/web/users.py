"""Desk users: names, roles and argon2 password hashes (argon2-cffi, its default
parameters: memory-hard, salted, and `check_needs_rehash` when they are raised)."""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select, update

from pipeline.db import utcnow
from pipeline.errors import TriajeError
from pipeline.schema import users, web_sessions

ROLES = ("reviewer", "admin")
MIN_PASSWORD = 10
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("a password nobody has")  # verify it for unknown users: same time


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise TriajeError(f"the password is too short: use at least {MIN_PASSWORD} characters")


def add(engine: Engine, name: str, role: str, password: str | None) -> int:
    if role not in ROLES:
        raise TriajeError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if password is not None:
        check_password(password)
    with engine.begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.name == name)).first():
            raise TriajeError(f"user {name!r} exists already (change its password with "
                              "`triaje user passwd`)")
        return conn.execute(users.insert().values(
            name=name, role=role, created_at=utcnow(), password_changed_at=utcnow(),
            password_hash=_hasher.hash(password) if password is not None else None)
        ).inserted_primary_key[0]


def list_users(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(users.c.name, users.c.role, users.c.language, users.c.created_at,
                                   users.c.password_changed_at).order_by(users.c.name))
        return [dict(r._mapping) for r in rows]


def remove(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        user_id = _id(conn, name)
        conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))
        conn.execute(delete(users).where(users.c.id == user_id))


def set_password(engine: Engine, name: str, password: str, keep_session: str | None = None) -> None:
    """A new password ends every session of the user but `keep_session` (the one that
    changed it): whoever knew the old password is logged out."""
    check_password(password)
    with engine.begin() as conn:
        user_id = _id(conn, name)
        conn.execute(update(users).where(users.c.id == user_id).values(
            password_hash=_hasher.hash(password), password_changed_at=utcnow()))
        query = delete(web_sessions).where(web_sessions.c.user_id == user_id)
        if keep_session is not None:
            query = query.where(web_sessions.c.id != keep_session)
        conn.execute(query)


def set_language(engine: Engine, user_id: int, language: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(language=language))


def authenticate(engine: Engine, name: str, password: str) -> dict[str, Any] | None:
    """The user when the password is right; None otherwise, in about the same time whether
    or not the user exists."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.name == name)).first()
    stored = row.password_hash if row is not None and row.password_hash else _DUMMY
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row.password_hash:
        return None
    if _hasher.check_needs_rehash(stored):
        with engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == row.id).values(
                password_hash=_hasher.hash(password)))
    return dict(row._mapping)


def proxy_user(engine: Engine, name: str) -> dict[str, Any]:
    """A user the single-sign-on proxy vouches for: known, or added as a reviewer with no
    password (it can log in only through the proxy)."""
    with engine.begin() as conn:
        row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            conn.execute(users.insert().values(name=name, role="reviewer", created_at=utcnow(),
                                               password_hash=None))
            row = conn.execute(select(users).where(users.c.name == name)).one()
    return dict(row._mapping)


def _id(conn, name: str) -> int:
    found = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
    if found is None:
        raise TriajeError(f"no user {name!r} (see `triaje user list`)")
    return found
