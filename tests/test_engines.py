"""The database engine of this run (TRIAJE_TEST_DATABASE): the fixtures give what they say."""

from __future__ import annotations

import uuid

from alembic import command
from conftest import ENGINE, make_mail
from helpers import build_env
from sqlalchemy import func, select, text

from pipeline import db
from pipeline.db import INDEX_BYTES, make_engine, open_database
from pipeline.ingest import mailboxstate, rawstore
from pipeline.ingest.mailboxstate import FolderState
from pipeline.ingest.rawstore import Origin
from pipeline.outbound import policy
from pipeline.process import runner
from pipeline.schema import inbound, outbox, tickets


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


def test_a_routing_mail_to_a_long_recipient_list_is_queued(database_url, tmp_path):
    """Issue 13, item 2: `outbox.recipients` holds the whole envelope list, and its index
    took it whole: a 10,000-character list passed PostgreSQL's B-tree entry limit and the
    message was quarantined. Migration 0012 indexes a capped prefix; the per-recipient
    limit, which reads through that index, still counts exact addresses."""
    team = tuple(f"{uuid.uuid4().hex}.{i}@equipo.example.org" for i in range(200))
    env = build_env({"database": {"url": database_url}, "mailboxes": [],
                     "desk": {"addresses": ["desk@example.org"]},
                     "routing": {"default": list(team)},
                     "classifier": {"models_dir": str(tmp_path / "models")}})
    with env.engine.begin() as conn:
        ids = [rawstore.store_raw(conn, Origin("desk", "INBOX", 1, uid),
                                  make_mail(subject=f"No imprime {uid}", sender="ana@example.com"))
               for uid in (1, 2)]
    summary = runner.process_ids(env, ids)
    assert (summary.new_tickets, summary.quarantined) == (2, 0)
    now = db.utcnow()
    with env.engine.connect() as conn:
        stored = conn.execute(select(outbox.c.recipients).where(outbox.c.kind != "ack")).scalars()
        assert [len(r) for r in stored] == [len(",".join(team))] * 2
        assert len(",".join(team)) > 10_000
        assert policy._sent_to(conn, "ana@example.com", ("ack",), now, 3600) == 2
        assert policy._sent_to(conn, ",".join(team), ("route", "triage"), now, 3600) == 2
        assert policy._sent_to(conn, ",".join(team)[:-1], ("route", "triage"), now, 3600) == 0
        assert policy._sent_to(conn, team[0], ("route", "triage"), now, 3600) == 0


def test_the_per_recipient_limit_reads_through_the_capped_index(database_url):
    engine = open_database(database_url)
    query = select(func.count()).select_from(outbox).where(
        outbox.c.created_at >= db.utcnow(), *policy._recipients_are("ana@example.com"))
    try:
        with engine.connect() as conn:
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            if ENGINE == "sqlite":
                plan = " ".join(str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
            else:  # an empty table: only forbidding the scan shows what the index can serve
                conn.execute(text("SET enable_seqscan = off"))
                plan = " ".join(row[0] for row in conn.execute(text("EXPLAIN " + sql)))
    finally:
        engine.dispose()
    assert "ix_outbox_recipient_time" in plan, plan


def test_the_migrations_build_the_schema_the_code_declares(database_url):
    """Every table, column and index in pipeline/schema.py exists after the migrations, so a
    new index or column cannot live in one and not the other. On SQLite the column types
    are left as the first migrations wrote them (it ignores lengths; 0005 converted
    PostgreSQL only), so there only types are not compared."""
    import warnings

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from pipeline.schema import metadata

    engine = open_database(database_url)
    with engine.connect() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an expression index cannot be reflected on SQLite
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    if ENGINE == "sqlite":
        flat = [d for d in flat if d[0] != "modify_type"]
    assert flat == []
    engine.dispose()
