"""The fetch -> register path against a real Dovecot: exactly once, nothing lost."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from conftest import make_mail
from helpers import build_env, count, inbound_rows

from pipeline.errors import FetchError
from pipeline.ingest import imapsource, poller
from pipeline.ingest.imapconn import ImapConnection
from pipeline.ingest.poller import MailboxPoller
from pipeline.process import stages
from pipeline.schema import inbound, tickets

pytestmark = pytest.mark.dovecot


def poll(env):
    summary, failed = poller.poll_once(env)
    assert failed == []
    return summary


def test_new_mail_registered_once_and_second_poll_registers_nothing(deskbox, tmp_path,
                                                                       monkeypatch):
    for i in range(5):
        deskbox.append(make_mail(subject=f"Problema {i}", sender=f"u{i}@example.com"))
    env = build_env(deskbox.config(tmp_path, monkeypatch))
    first = poll(env)
    assert (first.fetched, first.new_tickets, first.quarantined) == (5, 5, 0)
    second = poll(env)
    assert (second.fetched, second.new_tickets) == (0, 0)
    assert count(env) == 5
    refs = [r.ref for r in env.engine.connect().execute(tickets.select()).fetchall()]
    assert refs == [f"SD-{i:06d}" for i in range(1, 6)]


def test_seen_mail_is_fetched_and_seen_is_never_touched(deskbox, tmp_path, monkeypatch):
    deskbox.append(make_mail(subject="ya leído"), flags=(b"\\Seen",))
    deskbox.append(make_mail(subject="sin leer"))
    env = build_env(deskbox.config(tmp_path, monkeypatch))
    assert poll(env).new_tickets == 2
    flags = deskbox.flags()
    seen = [uid for uid, f in flags.items() if b"\\Seen" in f]
    assert seen == [min(flags)]  # the unread one is still unread for the humans
    assert all(b"$TriajeProcessed" in f for f in flags.values())


def test_processed_folder_move(deskbox, tmp_path, monkeypatch):
    for i in range(3):
        deskbox.append(make_mail(subject=f"mover {i}"))
    env = build_env(deskbox.config(tmp_path, monkeypatch, processed_folder="Processed"))
    assert poll(env).new_tickets == 3
    assert deskbox.uids("INBOX") == []
    assert len(deskbox.uids("Processed")) == 3
    assert all(r["server_done"] for r in inbound_rows(env))


def test_without_uidplus_mail_is_flagged_not_expunged(deskbox, tmp_path, monkeypatch, caplog):
    """A plain EXPUNGE would also remove what another client marked \\Deleted: a server
    without MOVE and UIDPLUS (Dovecot told to hide them here) gets the keyword instead."""
    deskbox.append(make_mail(subject="de otro cliente"), flags=(b"\\Deleted",))
    for i in range(2):
        deskbox.append(make_mail(subject=f"sin uidplus {i}"))
    real_has = ImapConnection.has
    monkeypatch.setattr(imapsource, "_warned", set())
    monkeypatch.setattr(ImapConnection, "has",
                        lambda self, cap: cap not in ("MOVE", "UIDPLUS") and real_has(self, cap))
    env = build_env(deskbox.config(tmp_path, monkeypatch, processed_folder="Processed"))
    assert poll(env).new_tickets == 3
    flags = deskbox.flags("INBOX")
    assert len(flags) == 3  # nothing expunged, the other client's deleted mail included
    assert sum(b"$TriajeProcessed" in f for f in flags.values()) == 3
    assert "Processed" not in _folders(deskbox)
    assert caplog.text.count("neither MOVE nor UIDPLUS") == 1


def _folders(deskbox) -> list[str]:
    with deskbox.client() as c:
        return [name for _flags, _sep, name in c.list_folders()]


def test_start_now_ignores_history(deskbox, tmp_path, monkeypatch):
    deskbox.append(make_mail(subject="antiguo 1"))
    deskbox.append(make_mail(subject="antiguo 2"))
    env = build_env(deskbox.config(tmp_path, monkeypatch, start="now"))
    assert poll(env).fetched == 0
    deskbox.append(make_mail(subject="nuevo"))
    summary = poll(env)
    assert summary.new_tickets == 1
    assert [r["subject"] for r in inbound_rows(env)] == ["nuevo"]


def test_crash_between_commit_and_move_reprocesses_without_second_ticket(
        deskbox, tmp_path, monkeypatch):
    for i in range(4):
        deskbox.append(make_mail(subject=f"crash {i}"))
    env = build_env(deskbox.config(tmp_path, monkeypatch, processed_folder="Processed"))

    class Crash(BaseException):
        pass

    def crash(*_args, **_kwargs):
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(ImapConnection, "move", crash)
        with pytest.raises(Crash):
            MailboxPoller(env, env.config.mailboxes[0]).poll(force=True)
    rows = inbound_rows(env)
    assert len(rows) == 4 and not any(r["server_done"] for r in rows)
    assert len(deskbox.uids("INBOX")) == 4  # committed, not yet moved
    summary = poll(env)  # a restart: processes the committed rows, finishes the move
    assert (summary.fetched, summary.duplicates, summary.new_tickets) == (0, 0, 4)
    assert count(env) == 4
    assert deskbox.uids("INBOX") == [] and len(deskbox.uids("Processed")) == 4


def test_uidvalidity_reset_rescans_and_dedupes(deskbox, tmp_path, monkeypatch):
    old = [make_mail(subject=f"antes {i}") for i in range(3)]
    for raw in old:
        deskbox.append(raw, folder="Desk")
    cfg = deskbox.config(tmp_path, monkeypatch)
    cfg["mailboxes"][0]["url"] = cfg["mailboxes"][0]["url"].replace("/INBOX", "/Desk")
    env = build_env(cfg)
    assert poll(env).new_tickets == 3
    with deskbox.client() as c:  # delete and recreate: a new UIDVALIDITY
        c.delete_folder("Desk")
        c.create_folder("Desk")
    for raw in [*old, make_mail(subject="después")]:
        deskbox.append(raw, folder="Desk")
    summary = poll(env)
    assert (summary.fetched, summary.duplicates, summary.new_tickets) == (1, 3, 1)
    assert count(env) == 4


def test_followup_joins_its_ticket(deskbox, tmp_path, monkeypatch):
    first = make_mail(subject="VPN caída", sender="luis@example.com",
                      message_id="<orig-1@example.com>")
    deskbox.append(first)
    env = build_env(deskbox.config(tmp_path, monkeypatch))
    poll(env)
    deskbox.append(make_mail(subject="Re: VPN caída", sender="luis@example.com",
                             In_Reply_To="<orig-1@example.com>",
                             References="<orig-1@example.com>"))
    deskbox.append(make_mail(subject="[SD-000001] más datos", sender="luis@example.com"))
    deskbox.append(make_mail(subject="[SD-000001] me cuelo", sender="intruso@example.net"))
    summary = poll(env)
    assert (summary.followups, summary.new_tickets) == (2, 1)
    rows = inbound_rows(env)
    assert [r["ticket_id"] for r in rows] == [1, 1, 1, 2]


def test_dropped_connection_mid_batch_loses_and_doubles_nothing(deskbox, tmp_path, monkeypatch):
    for i in range(6):
        deskbox.append(make_mail(subject=f"lote {i}"))
    env = build_env(deskbox.config(tmp_path, monkeypatch, batch_size=2))
    box = MailboxPoller(env, env.config.mailboxes[0])
    real_fetch = ImapConnection.fetch_raw
    calls = {"n": 0}

    def flaky(self, uids):
        calls["n"] += 1
        if calls["n"] == 2:
            self.imap._imap.sock.shutdown(socket.SHUT_RDWR)  # the network goes away
        return real_fetch(self, uids)

    monkeypatch.setattr(ImapConnection, "fetch_raw", flaky)
    with pytest.raises(FetchError):
        box.poll(force=True)
    assert count(env) == 2
    total = box.poll(force=True)  # reconnects
    assert total.new_tickets == 4
    assert count(env) == 6
    assert count(env, inbound) == 6


def test_unprocessable_message_is_quarantined_and_the_rest_registered(
        deskbox, tmp_path, monkeypatch):
    for subject in ("uno", "BOOM", "tres"):
        deskbox.append(make_mail(subject=subject))
    env = build_env(deskbox.config(tmp_path, monkeypatch))
    real = stages.guard.stage_guard

    def exploding_guard(work, env):
        if work.parsed and work.parsed.subject == "BOOM":
            raise ValueError("simulated guard failure")
        real(work, env)

    monkeypatch.setattr(stages, "READ_STAGES", (("parse", stages.parse.stage_parse),
                                                ("guard", exploding_guard)))
    summary = poll(env)
    assert (summary.new_tickets, summary.quarantined) == (2, 1)
    bad = [r for r in inbound_rows(env) if r["state"] == "quarantined"]
    assert bad[0]["stage"] == "guard" and "simulated guard failure" in bad[0]["reason"]
    assert b"Subject: BOOM" in bad[0]["raw"]
    from pipeline.process import quarantine

    monkeypatch.setattr(stages, "READ_STAGES", (("parse", stages.parse.stage_parse),))
    assert quarantine.retry(env, None).new_tickets == 1
    assert quarantine.list_rows(env.engine) == []


def test_unreachable_mailbox_is_reported(tmp_path, monkeypatch, deskbox):
    cfg = deskbox.config(tmp_path, monkeypatch)
    cfg["mailboxes"][0]["url"] = "imap://nobody@127.0.0.1:1/INBOX"
    env = build_env(cfg)
    summary, failed = poller.poll_once(env)
    assert failed == ["desk"] and summary.fetched == 0


def test_wrong_password_is_a_clear_error_without_the_password(deskbox, tmp_path, monkeypatch,
                                                              caplog):
    env = build_env(deskbox.config(tmp_path, monkeypatch))
    monkeypatch.setenv("TRIAJE_TEST_PW", "wrong-password-xyz")
    with pytest.raises(FetchError) as err:
        MailboxPoller(env, env.config.mailboxes[0]).poll(force=True)
    assert "wrong-password-xyz" not in str(err.value)
    assert "wrong-password-xyz" not in caplog.text


def test_a_refused_login_under_once_is_said_once_without_retrying(deskbox, tmp_path,
                                                                 monkeypatch, caplog):
    env = build_env(deskbox.config(tmp_path, monkeypatch))
    monkeypatch.setenv("TRIAJE_TEST_PW", "wrong-password-xyz")
    caplog.set_level(logging.INFO)
    summary, failed = poller.poll_once(env)
    assert failed == ["desk"] and summary.fetched == 0
    said = [r.getMessage() for r in caplog.records if "desk" in r.getMessage()]
    assert len(said) == 1 and "login refused" in said[0], said
    assert "retrying" not in caplog.text and "unreachable" not in caplog.text
    assert "wrong-password-xyz" not in caplog.text


def test_tls_needs_trusted_ca(deskbox, tmp_path, monkeypatch, dovecot):
    url = f"imaps://{deskbox.user}@127.0.0.1:{dovecot.imaps_port}/INBOX"
    deskbox.append(make_mail(subject="por TLS"))
    env = build_env(deskbox.config(tmp_path, monkeypatch, url=url))
    with pytest.raises(FetchError, match="certificate"):
        MailboxPoller(env, env.config.mailboxes[0]).poll(force=True)
    env = build_env(deskbox.config(tmp_path, monkeypatch, url=url, ca_file=dovecot.ca_file))
    assert MailboxPoller(env, env.config.mailboxes[0]).poll(force=True).new_tickets == 1


def test_idle_picks_up_new_mail_without_waiting_for_the_poll(deskbox, tmp_path, monkeypatch):
    from pipeline.daemon import Daemon

    env = build_env(deskbox.config(tmp_path, monkeypatch, idle=True, poll_interval=3600))
    daemon = Daemon(env)
    daemon.start()
    try:
        assert daemon.watchers[0].ready.wait(30), "the IDLE watcher never issued IDLE"
        started = time.monotonic()
        deskbox.append(make_mail(subject="por IDLE"))
        while count(env) == 0 and time.monotonic() - started < 30:
            time.sleep(0.05)
    finally:
        daemon.stop()
    # the next poll is an hour away: a ticket now means IDLE woke the poller (how fast is
    # bench/ack_latency's business: p50 0.53 s, of which ~0.5 s is Dovecot's notify delay)
    assert count(env) == 1
