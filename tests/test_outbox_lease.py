"""Short outbox leases, renewed while a mail is sent (issue 13, item 5), with real
`triaje run` processes, a real Dovecot and a real SMTP server on loopback.

Two daemons stand for two hosts (TRIAJE_INSTANCE_HOST), so neither takes the other's
claims as a dead predecessor's: only the lease decides. A slow server must not let the
second daemon send a mail the first is still sending; a daemon killed mid-send must have
its mail sent by the other once the (default, 30 s) lease ends.
"""

from __future__ import annotations

import os
import random
import signal
import time

from chaos import mails
from chaos.harness import CountingRecorder, Desk, Ledger, counting_receiver, wait_until

SLOW = 6.0  # seconds the server waits before its 250: longer than the lease below
SHORT_LEASE = 3


def _daemons(desk: Desk, count: int) -> list:
    return [desk.process(log=desk.workdir / f"host{i}.log",
                         extra_env={"TRIAJE_INSTANCE_HOST": f"host-{i}.example"})
            for i in range(count)]


def test_a_slow_server_does_not_let_another_daemon_send_the_same_mail(dovecot, tmp_path,
                                                                        database_url):
    receiver = counting_receiver().start()
    receiver.recorder.delay = SLOW
    desk = Desk(dovecot, tmp_path, receiver.url, database_url=database_url)
    desk.config["outbox"]["lease"] = SHORT_LEASE
    desk.config["smtp"]["timeout"] = 60
    desk.config["daemon"] = {"workers": 2}  # the sender looks for due mail every 0.5 s
    daemons = _daemons(desk, 2)
    try:
        for daemon in daemons:
            daemon.start()
        for mail in mails.corpus(2, random.Random(5), automatic_share=0.0, tag="slow"):
            desk.append(mail.raw)
        assert wait_until(lambda: desk.settled(2), 120), desk.query(
            "select id, state, attempts, claimed_by from outbox")
        assert [d.stop() for d in daemons] == [0, 0]
    finally:
        for daemon in daemons:
            daemon.kill()
        receiver.stop()
    ledger = Ledger(receiver)
    senders = {row[0] for row in desk.query("select claimed_by from outbox")}
    print(f"\nslow server: {len(ledger.deliveries())} deliveries of {len(ledger.distinct_ids())} "
          f"mails; claims by {senders}")
    assert len(ledger.distinct_ids()) == 4  # an ack and a routing mail for each
    assert ledger.redelivered() == 0
    assert desk.query("select state, max(attempts) from outbox group by state") == [("sent", 1)]


class KillOnMail(CountingRecorder):
    """Kills `victim` when it starts its first SMTP transaction: its row stays claimed."""

    victim: int | None = None
    killed_at: float | None = None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.victim is not None and self.killed_at is None:
            os.kill(self.victim, signal.SIGKILL)
            self.killed_at = time.monotonic()
            return "421 closing"
        return await super().handle_MAIL(server, session, envelope, address, mail_options)


def test_a_daemon_killed_on_another_host_has_its_mail_sent_within_the_lease(dovecot, tmp_path,
                                                                             database_url):
    receiver = counting_receiver()
    receiver.recorder = recorder = KillOnMail()
    receiver.start()
    desk = Desk(dovecot, tmp_path, receiver.url, database_url=database_url)
    del desk.config["outbox"]["lease"]  # the default: 30 s
    desk.config["smtp"]["timeout"] = 30
    first, second = _daemons(desk, 2)
    try:
        recorder.victim = first.start().proc.pid
        assert first.wait_running()
        desk.append(mails.corpus(1, random.Random(7), automatic_share=0.0, tag="kill")[0].raw)
        assert wait_until(lambda: recorder.killed_at is not None, 60)
        first.proc.wait()
        second.start()
        assert wait_until(lambda: desk.settled(1), 30 + 60), desk.query(
            "select id, state, attempts, claimed_by, next_attempt_at from outbox")
        took = time.monotonic() - recorder.killed_at
        assert second.stop() == 0
    finally:
        first.kill()
        second.kill()
        receiver.stop()
    print(f"\nkilled on host-0: its mail left from host-1 {took:.1f} s after the kill")
    ledger = Ledger(receiver)
    assert len(ledger.distinct_ids()) == 2 and ledger.redelivered() == 0  # ack, routing mail
    rows = desk.query("select state, attempts, claimed_by from outbox order by attempts")
    assert [(state, attempts) for state, attempts, _ in rows] == [("sent", 1), ("sent", 2)]
    assert all(owner.startswith("host-1.example:") for _, _, owner in rows)
