"""The database engine of this run (TRIAJE_TEST_DATABASE): the fixtures give what they say."""

from __future__ import annotations

from alembic import command
from conftest import ENGINE, make_mail
from helpers import build_env
from sqlalchemy import func, select

from pipeline import db
from pipeline.db import INDEX_BYTES, make_engine, open_database
from pipeline.ingest import mailboxstate, rawstore
from pipeline.ingest.mailboxstate import FolderState
from pipeline.ingest.rawstore import Origin
from pipeline.process import runner
from pipeline.schema import inbound, tickets


def test_database_url_is_a_fresh_migrated_database_of_this_run(database_url):
    engine = open_database(database_url)
    try:
        assert engine.dialect.name == ENGINE
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(inbound)).scalar_one() == 0
    finally:
        engine.dispose()


MAX_UID = 2**32 - 1  # RFC 3501: UIDs and UIDVALIDITY are unsigned 32-bit, non-zero


def _env(database_url, tmp_path):
    return build_env({"database": {"url": database_url}, "mailboxes": [],
                      "desk": {"addresses": ["desk@example.org"]},
                      "classifier": {"models_dir": str(tmp_path / "models")}})


def _with_message_id(message_id: str, **fields: str) -> bytes:
    """The header on one line, as written (EmailMessage folds or refuses long and 8-bit ones)."""
    head, _, body = make_mail(**fields).partition(b"\n\n")
    lines = [line for line in head.split(b"\n") if not line.startswith(b"Message-ID:")]
    return b"\n".join([*lines, b"Message-ID: " + message_id.encode()]) + b"\n\n" + body


def test_the_largest_legal_values_are_stored_and_processed(database_url, tmp_path):
    """The issue's run: 535 of 600 quarantined on PostgreSQL for a ref past varchar(40)."""
    env = _env(database_url, tmp_path)
    local, domain = "a" * 64, ".".join(["d" * 63] * 3) + ".example"  # 64 + @ + 255 bytes
    message_id = f"<{'m' * (900 - 12)}@example.com>"  # the longest parse.py takes
    raw = _with_message_id(message_id, subject="Asunto " + "largo " * 2000,
                           sender=f"{local}@{domain}")
    mailbox, folder = "buzón-" + "x" * 500, "INBOX/" + "carpeta-" * 120
    with env.engine.begin() as conn:
        mailboxstate.save(conn, mailbox, folder, FolderState(MAX_UID, MAX_UID))
        inbound_id = rawstore.store_raw(conn, Origin(mailbox, folder, MAX_UID, MAX_UID), raw)
    summary = runner.process_ids(env, [inbound_id])
    assert (summary.new_tickets, summary.quarantined) == (1, 0)
    with env.engine.connect() as conn:
        assert mailboxstate.load(conn, mailbox, folder) == FolderState(MAX_UID, MAX_UID)
        row = conn.execute(select(inbound).where(inbound.c.id == inbound_id)).one()
        ref = conn.execute(select(tickets.c.ref)).scalar_one()
    assert (row.uid, row.uidvalidity, row.state) == (MAX_UID, MAX_UID, "processed")
    assert row.message_id == message_id.lower() and row.sender == f"{local}@{domain}"
    assert ref == "SD-000001"
    assert rawstore.server_pending(env.engine.connect(), mailbox, folder, MAX_UID) == [MAX_UID]
    env.engine.dispose()


def test_an_oversized_sender_is_bounded_and_registered(database_url, tmp_path):
    """Past the B-tree limit (about 2,700 bytes) PostgreSQL cannot index a value at all:
    the From address is indexed (per-sender limits), and comes from outside."""
    env = _env(database_url, tmp_path)
    sender = f"{'ñ' * 3000}@example.com"
    raw = make_mail().replace(b"From: ana@example.com", b"From: " + sender.encode())
    with env.engine.begin() as conn:
        inbound_id = rawstore.store_raw(conn, Origin("desk", "INBOX", 1, 1), raw)
    summary = runner.process_ids(env, [inbound_id])
    with env.engine.connect() as conn:
        stored = conn.execute(select(inbound.c.sender, inbound.c.state)).one()
    assert summary.quarantined == 0 and stored.state == "processed"
    assert stored.sender.startswith("ñ" * 100) and len(stored.sender.encode()) <= INDEX_BYTES
    env.engine.dispose()


def test_the_migration_converts_an_existing_database(database_url):
    """A database made by an older triaje (at 0004) takes the largest UID after upgrading."""
    engine = make_engine(database_url)
    db.migrate(engine)
    cfg = db._alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    with engine.begin() as conn:
        mailboxstate.save(conn, "desk", "INBOX", FolderState(7, 42))
    db.migrate(engine)
    with engine.begin() as conn:
        mailboxstate.save(conn, "desk", "INBOX", FolderState(MAX_UID, MAX_UID))
        assert mailboxstate.load(conn, "desk", "INBOX") == FolderState(MAX_UID, MAX_UID)
    engine.dispose()
