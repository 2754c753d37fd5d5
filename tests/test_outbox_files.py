"""Outbox without SMTP: file mode (.eml per mail), nothing configured, and the CLI."""

from __future__ import annotations

import datetime as dt
import email
import json
import logging
import uuid
from email import policy

import outgoing
import pytest
from click.testing import CliRunner

from pipeline.cli.outbox import outbox_group
from pipeline.config import load
from pipeline.db import open_database, utcnow
from pipeline.outbound import admin, queue, sender
from pipeline.outbound.emlfiles import file_name, write_eml
from pipeline.outbound.templatecheck import sample_context
from pipeline.schema import inbound, tickets

CONFIG = """
[database]
url = "{db}"

[routing]
default = "n1@example.org"

[outbox]
directory = "sent-mail"
from = "Mesa de demostración <desk@demo.example>"
"""


def soon() -> dt.datetime:
    """Rows are queued at the real current time; drain a moment later."""
    return utcnow() + dt.timedelta(seconds=1)


@pytest.fixture
def setup(tmp_path, database_url):
    path = tmp_path / "triaje.toml"
    path.write_text(CONFIG.format(db=database_url), encoding="utf-8")
    cfg = load(str(path))
    return path, cfg, open_database(cfg.database_url)


def seed_and_queue(engine, cfg) -> list[int]:
    now, key = utcnow(), uuid.uuid4().hex
    with engine.begin() as conn:
        ticket_id = conn.execute(tickets.insert().values(
            ref=f"SD-{key[:8]}", mailbox="desk", subject="s", requester="ana@example.org",
            language="es", status="open", created_at=now, updated_at=now)).inserted_primary_key[0]
        inbound_id = conn.execute(inbound.insert().values(
            mailbox="desk", folder="INBOX", dedupe_key=key, raw=b"x", size=1, state="processed",
            attempts=0, received_at=now, server_done=False,
            ticket_id=ticket_id)).inserted_primary_key[0]
        ctx = sample_context("es", ticket_id=ticket_id, inbound_id=inbound_id)
        return queue.enqueue(conn, outgoing.planned(outgoing.build_mails(cfg.outbound, ctx, conn)))


def test_file_mode_writes_one_eml_per_mail_and_marks_it_sent(setup, tmp_path):
    _, cfg, engine = setup
    ids = seed_and_queue(engine, cfg)
    assert cfg.outbound.outbox.directory == str(tmp_path / "sent-mail")  # relative to the config
    assert sender.drain(engine, cfg.outbound, now=soon()) == sender.DrainResult(sent=2)
    files = sorted((tmp_path / "sent-mail").glob("*.eml"))
    assert len(files) == 2 and not list((tmp_path / "sent-mail").glob(".*"))
    stored = {r["message_id"]: r for r in admin.list_rows(engine)}
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        row = stored[msg["Message-ID"]]
        assert path.name == f"{msg['X-Triaje-Ticket']}-{row['kind']}.eml"  # SD-000123-ack.eml
        assert path.read_bytes() == outbox_raw(engine, row["id"])
        assert row["state"] == "sent" and row["id"] in ids
        assert msg["From"].addresses[0].addr_spec == "desk@demo.example"


def outbox_raw(engine, row_id: int) -> bytes:
    from sqlalchemy import select

    from pipeline.schema import outbox as table

    with engine.connect() as conn:
        return conn.execute(select(table.c.raw).where(table.c.id == row_id)).scalar_one()


def test_a_second_mail_of_the_same_kind_gets_its_own_file_and_a_resend_keeps_it(tmp_path):
    first = write_eml(tmp_path, "<a@x>", b"one", "SD-000001-forward")
    second = write_eml(tmp_path, "<b@x>", b"two", "SD-000001-forward")
    again = write_eml(tmp_path, "<a@x>", b"one", "SD-000001-forward")
    assert (first.name, second.name, again.name) == (
        "SD-000001-forward.eml", "SD-000001-forward-2.eml", "SD-000001-forward.eml")
    assert second.read_bytes() == b"two"


def test_file_names_cannot_escape_the_directory():
    assert file_name("<../../etc/passwd@x>") == "_.._etc_passwd@x.eml"
    assert file_name("<a/b\\c d@example.org>") == "a_b_c_d@example.org.eml"
    assert "/" not in file_name("<" + "x" * 500 + "@y>") and len(file_name("<" + "x" * 500 + ">")) < 210


def test_unwritable_directory_is_retried(setup, tmp_path):
    _, cfg, engine = setup
    seed_and_queue(engine, cfg)
    (tmp_path / "sent-mail").write_text("a file where the folder should be")
    result = sender.drain(engine, cfg.outbound, now=soon())
    assert result == sender.DrainResult(retried=1)


def test_nothing_configured_keeps_mail_queued_and_says_so_once(tmp_path, database_url, caplog):
    path = tmp_path / "triaje.toml"
    path.write_text(f'[database]\nurl = "{database_url}"\n'
                    '[routing]\ndefault = "n1@example.org"\n')
    cfg = load(str(path))
    engine = open_database(cfg.database_url)
    seed_and_queue(engine, cfg)
    sender.faults.active.clear()
    caplog.set_level(logging.WARNING, logger="pipeline.outbound.outbox")
    for _ in range(3):
        assert sender.drain(engine, cfg.outbound, now=soon()) == sender.DrainResult()
    assert len([r for r in caplog.records if "neither [smtp]" in r.getMessage()]) == 1
    assert {r["state"] for r in admin.list_rows(engine)} == {"queued"}


def test_cli_list_and_retry(setup):
    path, cfg, engine = setup
    ids = seed_and_queue(engine, cfg)
    runner = CliRunner()
    obj = {"config_path": str(path)}
    listed = runner.invoke(outbox_group, ["list", "--json"], obj=obj)
    assert listed.exit_code == 0, listed.output
    lines = [json.loads(line) for line in listed.output.splitlines()]
    assert sorted(r["id"] for r in lines) == sorted(ids)
    assert {r["state"] for r in lines} == {"queued"} and "raw" not in lines[0]
    # make one row fail, then list failed rows and put them back
    from sqlalchemy import update

    from pipeline.schema import outbox as table

    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == ids[0])
                     .values(state="failed", attempts=8, last_error="550 no such user"))
    table_out = runner.invoke(outbox_group, ["list", "--state", "failed"], obj=obj)
    assert table_out.exit_code == 0 and "550 no such user" in table_out.output
    assert len(table_out.output.strip().splitlines()) == 2  # header + one row
    assert runner.invoke(outbox_group, ["retry"], obj=obj).exit_code == 2  # needs IDs or --all
    retried = runner.invoke(outbox_group, ["retry", str(ids[0])], obj=obj)
    assert retried.exit_code == 0 and retried.output.startswith("1 mail(s) queued again")
    assert runner.invoke(outbox_group, ["retry", "--all"], obj=obj).output.startswith("0 mail")
    sent = runner.invoke(outbox_group, ["send"], obj=obj)
    assert sent.output.strip() == "sent 2, retried 0, failed 0"
    assert {r["state"] for r in admin.list_rows(engine)} == {"sent"}


def test_demo_config_sends_to_files_with_the_smtp_from_address(tmp_path):
    from pipeline import demo

    cfg = load(str(demo.write_config(tmp_path / "demo")))
    assert cfg.outbound.smtp is None
    assert cfg.outbound.from_address == "desk@example.org"
    assert cfg.outbound.outbox.directory == str((tmp_path / "demo" / "outbox").resolve())
    engine = open_database(cfg.database_url)
    seed_and_queue(engine, cfg)
    assert sender.drain(engine, cfg.outbound, now=soon()) == sender.DrainResult(sent=2)
    for path in (tmp_path / "demo" / "outbox").glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert msg["From"].addresses[0].addr_spec == "desk@example.org"


@pytest.mark.parametrize("data, key", [
    ({"smtp": {"from": "d@example.org", "username": "d"}}, "smtp.url"),
    ({"smtp": {"from": "d@example.org"}, "outbox": {"from": "e@example.org"}}, "outbox.from"),
    ({"smtp": {"url": "smtp://127.0.0.1"}}, "smtp.from"),
    ({"outbox": {"from": "nobody"}}, "outbox.from"),
    ({"outbox": {"recipient_limit": 0}}, "outbox.recipient_limit"),
    ({"outbox": {"retry_base": 60, "retry_max": 30}}, "outbox.retry_max"),
    ({"outbox": {"own_addresses": ["x"]}}, "outbox.own_addresses"),
    ({"outbox": {"directoy": "x"}}, "outbox.directoy"),
    ({"templates": {"directory": "/does/not/exist"}}, "templates.directory"),
])
def test_bad_outbox_config_names_the_key(data, key):
    from pipeline.config import from_dict
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        from_dict(data)
    assert caught.value.key == key


def test_one_drain_empties_a_backlog_larger_than_a_batch(setup, tmp_path):
    """A drain goes on batch after batch: after a large poll the queue must not wait
    DRAIN_INTERVAL seconds per 200 mails. (One sender: its acks stop at the recipient
    limit, the routing mails do not.)"""
    _, cfg, engine = setup
    ids = [i for _ in range(sender.BATCH + 20) for i in seed_and_queue(engine, cfg)]
    assert len(ids) > sender.BATCH
    result = sender.drain(engine, cfg.outbound, now=soon())
    assert result == sender.DrainResult(sent=len(ids))
    assert len(list((tmp_path / "sent-mail").glob("*.eml"))) == len(ids)


def test_a_set_stop_event_ends_the_drain_between_two_mails(setup):
    import threading

    _, cfg, engine = setup
    ids = seed_and_queue(engine, cfg)
    stop = threading.Event()
    stop.set()
    assert sender.drain(engine, cfg.outbound, now=soon(), stop=stop) == sender.DrainResult()
    assert sender.drain(engine, cfg.outbound, now=soon()) == sender.DrainResult(sent=len(ids))
