"""Crash safety: `triaje run` killed with SIGKILL at random moments loses and doubles nothing.

Set CHAOS_SEED to replay a run; the seed is printed with the figures.
"""

from __future__ import annotations

import os
import random
import signal
import time
import warnings

import pytest
from chaos import mails
from chaos.crash import run_crash
from chaos.harness import Desk, Ledger, counting_receiver, wait_until

pytestmark = pytest.mark.dovecot


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_doubles_nothing(dovecot, tmp_path, database_url):
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1_000_000))
    report = run_crash(dovecot, tmp_path, messages=300, kills=10, seed=seed, feed_seconds=60,
                       database_url=database_url)
    print(f"\ncrash test: {report.summary()}")
    assert report.drained, f"not drained within the timeout: {report.summary()}"
    assert report.appended == 300 and report.tickets == 300
    assert report.kills == 10
    assert (report.lost, report.duplicated, report.acks_to_automatic,
            report.routing_to_auto_replies) == (0, 0, 0, 0), report.summary()
    assert report.quarantined == 0 and report.failed_outbox == 0
    assert report.final_exit == 0
    if report.redelivered:  # the known at-least-once window: same bytes, same Message-ID
        warnings.warn(f"SIGKILL between SMTP 250 and the outbox commit re-sent "
                      f"{report.redelivered} mail(s) with their Message-ID: "
                      f"{report.redelivered_ids}", stacklevel=1)


def test_kill_after_the_server_took_the_mail_resends_the_same_message(dovecot, tmp_path,
                                                                      database_url):
    """The window, made deterministic: the receiver stores the mail, then the daemon dies
    before it can hear the 250 and mark the row. On restart the same bytes go out again
    under the same Message-ID (recognisably the same mail); nothing is lost."""
    receiver = counting_receiver().start()
    desk = Desk(dovecot, tmp_path, receiver.url, database_url=database_url)
    daemon = desk.process()
    killed = []

    def crash_on_first(_data: bytes, _rcpts: list[str]) -> None:
        if not killed:
            killed.append(time.monotonic())
            os.kill(daemon.proc.pid, signal.SIGKILL)

    receiver.recorder.on_message = crash_on_first
    mail = mails.corpus(1, random.Random(3), automatic_share=0.0, tag="window")[0]
    try:
        daemon.start()
        desk.append(mail.raw)
        assert wait_until(lambda: bool(killed), 30)
        daemon.proc.wait()
        daemon.start()
        assert wait_until(lambda: desk.settled(1) and len(Ledger(receiver).distinct_ids()) == 2, 60)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
        receiver.stop()
    ledger = Ledger(receiver)
    deliveries = ledger.deliveries()
    print(f"\nwindow test: {len(deliveries)} deliveries, {ledger.redelivered()} redelivered")
    assert len(ledger.distinct_ids()) == 2  # one ack, one triage mail
    assert ledger.redelivered() == 1
    first = deliveries[0]
    assert [d for d in deliveries if d.message_id == first.message_id][1] == first
    assert desk.scalar("select count(*) from tickets") == 1
    assert desk.scalar("select count(*) from outbox where state = 'sent'") == 2


@pytest.mark.slow
def test_three_daemons_on_one_mailbox_killed_at_random_lose_and_double_nothing(dovecot, tmp_path,
                                                                            database_url):
    """Issue 13, the CI size of item 11: three `triaje run` share one database and one
    mailbox (one fetches it, all process), and SIGKILLs hit random daemons, each
    restarted at once."""
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1_000_000))
    report = run_crash(dovecot, tmp_path, messages=150, kills=6, seed=seed, feed_seconds=30,
                       database_url=database_url, daemons=3)
    print(f"\nthree daemons: {report.summary()}")
    assert report.drained, f"not drained within the timeout: {report.summary()}"
    assert report.appended == 150 and report.tickets == 150 and report.kills == 6
    assert (report.lost, report.duplicated, report.acks_to_automatic) == (0, 0, 0), report.summary()
    assert report.quarantined == 0 and report.failed_outbox == 0
    assert report.final_exit == 0
    if report.redelivered:
        warnings.warn(f"re-sent {report.redelivered} mail(s) with their Message-ID", stacklevel=1)
