"""All three outages in one run, for the benchmark table: the IMAP server dies mid-batch,
the SMTP server refuses and then disappears, another process locks the database."""

from __future__ import annotations

import time
from pathlib import Path

from dovecot import Dovecot

from chaos.crash import CrashReport
from chaos.harness import append_many, hard_stop, lock_database, wait_until
from chaos.scenario import Scenario


def run_outages(server: Dovecot, workdir: Path, messages: int = 300) -> CrashReport:
    """`server` is stopped and restarted: give it a Dovecot of its own."""
    third = messages // 3
    with Scenario(server, workdir, messages, "outages", mailbox={"batch_size": 20}) as s:
        raws = [m.raw for m in s.corpus]
        append_many(server, s.desk.user, raws[:third])
        wait_until(lambda: s.inbound() >= 20, 30, 0.02)
        hard_stop(server)
        time.sleep(5)
        server.restart()
        s.receiver.recorder.refusing = "421 4.3.2 Service not available, try later"
        append_many(server, s.desk.user, raws[third:2 * third])
        time.sleep(4)
        s.receiver.stop()
        time.sleep(4)
        s.receiver.recorder.refusing = None
        s.receiver.start()
        locker = lock_database(s.desk, 5)
        append_many(server, s.desk.user, raws[2 * third:])
        locker.wait(timeout=60)
        return s.finish(timeout=180)
