"""One desk, one counting SMTP receiver and one `triaje run`, for the outage and hostile
input scenarios: start, do harm, then `finish()` waits for the drain and counts."""

from __future__ import annotations

import random
import time
from pathlib import Path

from dovecot import Dovecot

from chaos import mails
from chaos.crash import CrashReport, count_outcome, drained
from chaos.harness import Desk, Ledger, counting_receiver, wait_until


class Scenario:
    def __init__(self, server: Dovecot, workdir: Path, messages: int, tag: str,
                 seed: int = 1, mailbox: dict | None = None, automatic_share: float = 0.05,
                 database_url: str | None = None, **sections: dict) -> None:
        self.receiver = counting_receiver()
        self.desk = Desk(server, workdir, self.receiver.url, database_url=database_url)
        self.desk.config["mailboxes"][0].update(mailbox or {})
        for name, values in sections.items():
            self.desk.config.setdefault(name, {}).update(values)
        self.corpus = mails.corpus(messages, random.Random(seed), automatic_share, tag=tag)
        self.daemon = self.desk.process()
        self.started = 0.0

    def __enter__(self) -> Scenario:
        self.receiver.start()
        self.started = time.monotonic()
        self.daemon.start()
        assert self.daemon.wait_running(), self.daemon.output()[-3000:]
        return self

    def __exit__(self, *exc: object) -> None:
        self.daemon.kill()
        self.receiver.stop()

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.receiver)

    def inbound(self) -> int:
        return self.desk.scalar("select count(*) from inbound")

    def finish(self, timeout: float = 120.0, expected: int | None = None) -> CrashReport:
        """Wait until everything is processed and delivered, stop cleanly, count."""
        report = CrashReport(len(self.corpus), self.daemon.kills, 0)
        expected = len(self.corpus) if expected is None else expected
        report.drained = wait_until(lambda: drained(self.desk, self.receiver, expected),
                                    timeout, 0.25)
        report.final_exit = self.daemon.stop()
        report.wall_seconds = time.monotonic() - self.started
        report.peak_rss_mb = self.daemon.peak_rss_kb / 1024
        report.tracebacks = self.daemon.output().count("Traceback")
        count_outcome(report, self.desk, self.ledger, self.corpus)
        return report
