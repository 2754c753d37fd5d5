"""Outages: the IMAP server, the SMTP server or the database goes away for a while.

The daemon keeps running, says so once per episode (not once per retry), and when the
fault is over everything is processed and delivered exactly once.
"""

from __future__ import annotations

import random
import time

import pytest
from chaos import mails
from chaos.fixtures import own_dovecot  # noqa: F401 - a fixture
from chaos.harness import Desk, Ledger, append_many, counting_receiver, hard_stop, lock_database, wait_until
from chaos.scenario import Scenario
from conftest import ENGINE
from helpers import build_env

from pipeline import db
from pipeline.daemon import Daemon

pytestmark = pytest.mark.dovecot


def assert_clean(report, output: str = "") -> None:
    print(f"\n{report.summary()}")
    assert "maximum number of running instances" not in output  # a line per interval
    assert report.drained, report.summary()
    assert (report.lost, report.duplicated, report.acks_to_automatic,
            report.routing_to_auto_replies) == (0, 0, 0, 0), report.summary()
    assert report.redelivered == 0 and report.quarantined == 0 and report.failed_outbox == 0
    assert report.final_exit == 0


def test_imap_server_stopped_and_restarted_mid_batch(own_dovecot, tmp_path, database_url):  # noqa: F811
    with Scenario(own_dovecot, tmp_path, 300, "imapdown", database_url=database_url,
                  mailbox={"batch_size": 10}) as s:
        append_many(own_dovecot, s.desk.user, [m.raw for m in s.corpus[:250]])
        assert wait_until(lambda: s.inbound() >= 10, 30, 0.02)
        assert hard_stop(own_dovecot) >= 1
        time.sleep(6)
        assert s.daemon.alive()
        own_dovecot.restart()
        append_many(own_dovecot, s.desk.user, [m.raw for m in s.corpus[250:]])
        report = s.finish()
    out = s.daemon.output()
    assert_clean(report, out)
    assert report.tickets == 300
    assert out.count("mailbox=desk unreachable") <= 1  # the poller, once per episode
    assert out.count("IDLE connection lost") == 1  # the watcher, once per episode
    assert out.count("unreachable") + out.count("IDLE connection lost") >= 1


def test_smtp_refusing_then_down_then_accepting(own_dovecot, tmp_path, database_url):  # noqa: F811
    with Scenario(own_dovecot, tmp_path, 60, "smtpdown", database_url=database_url) as s:
        s.receiver.recorder.refusing = "421 4.3.2 Service not available, try later"
        append_many(own_dovecot, s.desk.user, [m.raw for m in s.corpus[:30]])
        name = f"smtp://127.0.0.1:{s.receiver.port}"
        assert wait_until(lambda: s.inbound() >= 30, 30)
        # each episode lasts until the sender has met it (a loaded machine may take a while
        # to process the first mails), then a little longer
        assert wait_until(lambda: s.receiver.recorder.refused >= 1, 60)
        time.sleep(2)
        s.receiver.recorder.refusing = None
        assert wait_until(lambda: len(s.ledger.distinct_ids()) >= 10, 30)
        s.receiver.stop()  # episode 2: nobody listening
        append_many(own_dovecot, s.desk.user, [m.raw for m in s.corpus[30:]])
        assert wait_until(lambda: s.daemon.output().count(f"outbox: {name}: ") >= 2, 60)
        time.sleep(2)
        assert s.daemon.alive()
        s.receiver.start()
        report = s.finish()
    out = s.daemon.output()
    assert_clean(report, out)
    print(f"refused MAIL FROM {s.receiver.recorder.refused} times")
    assert out.count(f"outbox: {name}: ") == 2, out[-4000:]  # one line per episode
    assert out.count(f"outbox: {name}: 421 4.3.2") == 1  # saying what the server said
    assert out.count(f"outbox: {name} works again") == 2
    assert "will retry" not in out  # no line per queued mail


def test_database_locked_by_another_process_for_a_few_seconds(own_dovecot, tmp_path, database_url):  # noqa: F811
    with Scenario(own_dovecot, tmp_path, 60, "dblock", database_url=database_url) as s:
        append_many(own_dovecot, s.desk.user, [m.raw for m in s.corpus[:20]])
        assert wait_until(lambda: s.desk.settled(20), 30)
        locker = lock_database(s.desk, 5)
        append_many(own_dovecot, s.desk.user, [m.raw for m in s.corpus[20:]])
        assert locker.wait(timeout=30) == 0
        assert s.daemon.alive()
        report = s.finish()
    assert_clean(report, s.daemon.output())
    assert report.tracebacks == 0


@pytest.mark.skipif(ENGINE != "sqlite", reason="SQLite's busy timeout; PostgreSQL waits")
def test_database_locked_longer_than_the_busy_timeout(own_dovecot, tmp_path,  # noqa: F811
                                                     monkeypatch, caplog):
    """Someone else holds `BEGIN EXCLUSIVE` longer than SQLite waits (the busy timeout,
    30 s, shortened here to 1.5 s so the test is quick): the daemon survives, says so once,
    and its IDLE watcher still picks up new mail afterwards. In process, to see the threads."""
    monkeypatch.setattr(db, "SQLITE_BUSY_MS", 1500)
    receiver = counting_receiver().start()
    desk = Desk(own_dovecot, tmp_path, receiver.url)
    desk.config["mailboxes"][0]["poll_interval"] = 3600  # only IDLE brings new mail
    monkeypatch.setenv(desk.password_env, desk.password)
    corpus = mails.corpus(30, random.Random(4), 0.0, tag="dblong")
    daemon = Daemon(build_env(desk.config))
    daemon.start()
    try:
        append_many(own_dovecot, desk.user, [m.raw for m in corpus[:10]])
        assert wait_until(lambda: desk.settled(10), 30)
        locker = lock_database(desk, 5)
        append_many(own_dovecot, desk.user, [m.raw for m in corpus[10:20]])
        assert locker.wait(timeout=30) == 0
        time.sleep(3)  # the backoff after the failed attempt
        watchers_alive = all(w.is_alive() for w in daemon.watchers)
        append_many(own_dovecot, desk.user, [m.raw for m in corpus[20:]])
        settled = wait_until(lambda: desk.settled(30), 60)
    finally:
        daemon.stop()
        receiver.stop()
    print(caplog.text[-2000:])
    assert watchers_alive and settled
    assert caplog.text.count("cannot use the database") == 1  # once per episode
    assert len(Ledger(receiver).distinct_ids()) == 60 and Ledger(receiver).redelivered() == 0
