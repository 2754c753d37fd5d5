"""The database: one SQLAlchemy engine, migrated to the newest schema before use."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from datetime import UTC, datetime
from importlib.resources import files

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event

SQLITE_BUSY_MS = 30_000
INDEX_BYTES = 1000  # a PostgreSQL B-tree entry holds about 2,700 bytes; RFC 5322 lines 998


def fit_index(value: str) -> str:
    """Indexed text from outside, bounded: kept whole when it fits, else a prefix and the
    hash of the whole, so two long values still differ and the same value maps the same."""
    data = value.encode("utf-8", "surrogateescape")
    if len(data) <= INDEX_BYTES:
        return value
    digest = hashlib.sha256(data).hexdigest()
    head = data[:INDEX_BYTES - 80].decode("utf-8", "ignore")
    return f"{head}~sha256:{digest}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def make_engine(url: str) -> Engine:
    """An engine with the SQLite settings a daemon needs: WAL, a busy timeout, FK checks."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLAlchemy's documented pysqlite recipe: we emit BEGIN ourselves, so SAVEPOINT works."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    _turn_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _turn_to_wal(cursor) -> None:
    """A new database file turns to WAL at its first connections; while another of them
    holds a transaction (daemons starting together on a new file), SQLite refuses at once
    with "database is locked" instead of waiting the busy timeout: try again until it ends
    (4 threads starting on a new file failed 26 times in 200 before)."""
    deadline = time.monotonic() + SQLITE_BUSY_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(conn) -> None:
    """IMMEDIATE takes the write lock up front: a deferred BEGIN that later upgrades to a
    writer can fail at once with "database is locked" instead of waiting busy_timeout."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(files("pipeline") / "migrations"))
    return cfg


MIGRATION_LOCK = 0x7472696A  # "trij": the advisory lock key of migrations on PostgreSQL


def migrate(engine: Engine) -> None:
    """Bring the schema to head; safe to call at every start, by several daemons at once:
    on PostgreSQL the upgrade runs under a transaction-level advisory lock (the second
    daemon waits, then finds the schema at head); on SQLite BEGIN IMMEDIATE serialises."""
    cfg = _alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def open_database(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine
