"""The maildir:// source: read-only, each file registered once, start = "now" honoured."""

from __future__ import annotations

import logging
import mailbox
import os
import time
from pathlib import Path

from conftest import make_mail
from helpers import build_env, count, inbound_rows
from sqlalchemy import select

from classifier import artefact, training
from pipeline.ingest import poller
from pipeline.outbound import sender
from pipeline.schema import inbound, predictions

TICKETS = Path(__file__).parent / "fixtures" / "classifier" / "tickets.csv"


def config(tmp_path, url, start="all"):
    return {"database": {"url": url},
            "mailboxes": [{"name": "local", "url": f"maildir://{tmp_path / 'md'}", "start": start}],
            "classifier": {"models_dir": str(tmp_path / "models")}}


def test_maildir_files_registered_once_and_left_untouched(tmp_path, database_url):
    box = mailbox.Maildir(tmp_path / "md", create=True)
    keys = [box.add(make_mail(subject=f"local {i}")) for i in range(3)]
    before = sorted(os.listdir(tmp_path / "md" / "new"))
    env = build_env(config(tmp_path, database_url))
    summary, failed = poller.poll_once(env)
    assert failed == [] and summary.new_tickets == 3
    assert poller.poll_once(env)[0].fetched == 0
    assert sorted(os.listdir(tmp_path / "md" / "new")) == before  # read-only
    assert sorted(r["source_key"] for r in inbound_rows(env)) == sorted(keys)


def test_maildir_start_now_skips_older_files(tmp_path, database_url):
    box = mailbox.Maildir(tmp_path / "md", create=True)
    old = box.add(make_mail(subject="viejo"))
    past = time.time() - 3600
    os.utime(tmp_path / "md" / "new" / old, (past, past))
    env = build_env(config(tmp_path, database_url, start="now"))
    assert poller.poll_once(env)[0].fetched == 0
    box.add(make_mail(subject="nuevo"))
    assert poller.poll_once(env)[0].new_tickets == 1
    assert count(env) == 1


def test_missing_maildir_is_reported_as_unreachable(tmp_path, database_url):
    env = build_env(config(tmp_path, database_url))
    summary, failed = poller.poll_once(env)
    assert failed == ["local"] and summary.fetched == 0


def test_without_a_model_mail_goes_where_the_warning_says(tmp_path, database_url, caplog):
    box = mailbox.Maildir(tmp_path / "md", create=True)
    box.add(make_mail(subject="La impresora no imprime", sender="ana@example.com"))
    cfg = {**config(tmp_path, database_url), "outbox": {"directory": str(tmp_path / "out")},
           "smtp": {"from": "Mesa <desk@example.org>"},
           "routing": {"default": "n1@example.org", "triage": "triage@example.org",
                       "rules": [{"type": ["incident"], "to": ["n2@example.org"]}]}}
    caplog.set_level(logging.WARNING)
    env = build_env(cfg, with_model=True)
    assert env.model is None
    assert "else to the [routing] default address" in caplog.text and "triage" not in caplog.text
    poller.poll_once(env)
    sender.drain(env.engine, env.config.outbound)
    mails = {p.name: p.read_bytes() for p in (tmp_path / "out").glob("*.eml")}
    assert sorted(mails) == ["SD-000001-ack.eml", "SD-000001-route.eml"]
    assert b"To: n1@example.org" in mails["SD-000001-route.eml"]


def test_the_reason_a_prediction_needs_a_person_is_stored(tmp_path, database_url):
    """Mail unlike anything the model learnt is stored with reason `unfamiliar`, a known
    kind of mail with none (the real model, trained on the small fixture set)."""
    training.train_from_paths([str(TICKETS)], tmp_path / "trained")
    artefact.install(tmp_path / "trained", tmp_path / "models")
    box = mailbox.Maildir(tmp_path / "md", create=True)
    box.add(make_mail(subject="Zahlungsverkehr Quartalsbericht Vorstand",
                      body="Sehr geehrte Damen und Herren, anbei der Quartalsbericht."))
    box.add(make_mail(subject="La impresora no imprime",
                      body="Hola, la impresora de la segunda planta no imprime."))
    env = build_env(config(tmp_path, database_url), with_model=True)
    assert poller.poll_once(env)[0].new_tickets == 2
    with env.engine.connect() as conn:
        rows = conn.execute(select(inbound.c.subject, predictions.c.head, predictions.c.needs_review,
                                   predictions.c.review_reason)
                            .join(inbound, inbound.c.id == predictions.c.inbound_id)).all()
    foreign = {r.head: (r.needs_review, r.review_reason) for r in rows if "Zahlung" in r.subject}
    assert foreign == {h: (True, "unfamiliar") for h in ("type", "priority", "queue")}
    printer = {r.head: r.review_reason for r in rows if "impresora" in r.subject}
    assert printer["type"] is None and printer["queue"] is None
