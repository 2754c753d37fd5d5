"""The crash scenario: N messages arrive at random moments while `triaje run` is killed
with SIGKILL M times and restarted each time; then everything is counted.

Counted from both ends: the database (one ticket per message) and the SMTP receiver (one
acknowledgement per non-automatic message, by Message-ID and by ticket reference; one
routing mail per ticket). A delivery of a Message-ID already delivered is the known
at-least-once window of the outbox (killed after the server's 250, before the row was
marked sent); it is counted separately as `redelivered`, not hidden.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dovecot import Dovecot

from chaos import mails
from chaos.harness import Desk, Feeder, Ledger, counting_receiver, folder_count, wait_until


@dataclass
class CrashReport:
    messages: int
    kills: int
    seed: int
    appended: int = 0
    tickets: int = 0
    quarantined: int = 0
    lost_tickets: int = 0
    duplicated_tickets: int = 0
    acks_expected: int = 0
    lost_acks: int = 0
    duplicated_acks: int = 0  # two different acks for one message: a double registration
    acks_to_automatic: int = 0
    lost_routing: int = 0
    routing_to_auto_replies: int = 0
    duplicated_routing: int = 0
    redelivered: int = 0  # the same Message-ID delivered again after a kill
    redelivered_ids: list[str] = field(default_factory=list)
    failed_outbox: int = 0
    drain_seconds: float = 0.0
    drained: bool = False
    wall_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    tracebacks: int = 0
    final_exit: int | None = None

    @property
    def lost(self) -> int:
        return self.lost_tickets + self.lost_acks + self.lost_routing

    @property
    def duplicated(self) -> int:
        return self.duplicated_tickets + self.duplicated_acks + self.duplicated_routing

    def summary(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k != "redelivered_ids"}
        return " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in data.items())


def run_crash(server: Dovecot, workdir: Path, messages: int = 300, kills: int = 10,
              seed: int | None = None, feed_seconds: float = 60.0,
              drain_timeout: float = 180.0, database_url: str | None = None,
              daemons: int = 1) -> CrashReport:
    """`daemons` > 1: that many `triaje run` on the one database and mailbox, each kill
    hitting a random one, restarted at once."""
    seed = seed if seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)
    report = CrashReport(messages, kills, seed)
    receiver = counting_receiver().start()
    desk = Desk(server, workdir, receiver.url, database_url=database_url)
    procs = [desk.process(log=workdir / f"{desk.name}-{i}.log") for i in range(daemons)]
    corpus = mails.corpus(messages, rng, tag=f"crash{seed}")
    feeder = Feeder(server, desk.user, [m.raw for m in corpus], feed_seconds, rng)
    started = time.monotonic()
    try:
        for proc in procs:
            proc.start()
        feeder.start()
        last_restart = _kill_and_restart(procs, feeder, kills, feed_seconds, rng, started)
        feeder.join()
        for proc in procs:
            proc.wait_running()
        report.drained = wait_until(lambda: drained(desk, receiver, messages), drain_timeout, 0.25)
        report.drain_seconds = time.monotonic() - last_restart
        codes = [proc.stop() for proc in procs]
        report.final_exit = next((c for c in codes if c != 0), 0)
    finally:
        feeder.stop.set()
        for proc in procs:
            if proc.alive():
                proc.kill()
        receiver.stop()
    report.wall_seconds = time.monotonic() - started
    report.appended = feeder.appended
    report.peak_rss_mb = max(proc.peak_rss_kb for proc in procs) / 1024
    report.tracebacks = sum(proc.output().count("Traceback") for proc in procs)
    count_outcome(report, desk, Ledger(receiver), corpus)
    return report


def _kill_and_restart(procs: list, feeder: Feeder, kills: int, feed_seconds: float,
                      rng: random.Random, started: float) -> float:
    """M-1 kills at random moments while mail arrives, the last one during the final
    backlog, each of a random daemon; returns when the last restart happened."""
    moments = sorted(rng.uniform(1.0, feed_seconds) for _ in range(max(kills - 1, 0)))
    last_restart = started
    for moment in moments:
        time.sleep(max(0.0, started + moment - time.monotonic()))
        last_restart = _crash(rng.choice(procs), rng)
    if kills:
        feeder.join()
        time.sleep(rng.uniform(0.2, 2.0))
        last_restart = _crash(rng.choice(procs), rng)
    return last_restart


def _crash(daemon, rng: random.Random) -> float:
    daemon.kill()
    time.sleep(rng.uniform(0.0, 0.5))
    daemon.start()
    return time.monotonic()


def drained(desk: Desk, receiver, messages: int) -> bool:
    if not desk.settled(messages) or folder_count(desk.server, desk.user) != 0:
        return False
    sent = {r[0] for r in desk.query("select message_id from outbox where state = 'sent'")}
    return sent <= Ledger(receiver).distinct_ids()


def count_outcome(report: CrashReport, desk: Desk, ledger: Ledger, corpus: list[mails.Mail]) -> None:
    rows = {r[0]: r for r in desk.query(
        "select i.message_id, i.state, i.ticket_id, t.ref from inbound i "
        "left join tickets t on t.id = i.ticket_id")}
    report.tickets = desk.scalar("select count(*) from tickets")
    report.quarantined = desk.scalar("select count(*) from inbound where state = 'quarantined'")
    report.failed_outbox = desk.scalar("select count(*) from outbox where state = 'failed'")
    refs = {r[0] for r in desk.query("select ref from tickets")}
    report.lost_tickets = sum(1 for m in corpus if m.message_id not in rows
                              or rows[m.message_id][1] in ("fetched", "processing"))
    referenced = desk.scalar("select count(distinct ticket_id) from inbound")
    doubled = desk.scalar("select count(*) - count(distinct message_id) from inbound "
                          "where message_id is not null")
    report.duplicated_tickets = report.tickets - referenced + doubled
    acks, acks_by_ref = ledger.by_origin(True), ledger.by_ticket(True)
    for mail in corpus:
        got = len(acks.get(mail.message_id, ()))
        if mail.automatic:
            report.acks_to_automatic += got
            continue
        report.acks_expected += 1
        ref = rows[mail.message_id][3] if mail.message_id in rows else None
        by_ref = len(acks_by_ref.get(ref, ())) if ref else 0
        report.lost_acks += got == 0
        report.duplicated_acks += max(got, by_ref) > 1
    team = ledger.by_ticket(False)
    # an out-of-office reply (the corpus's automatic mails) is registered but is no case
    # for a team: it gets no routing mail by design (planner._team_mail)
    routed = refs - {rows[m.message_id][3] for m in corpus if m.automatic and m.message_id in rows}
    report.lost_routing = sum(1 for ref in routed if not team.get(ref))
    report.duplicated_routing = sum(1 for ref in refs if len(team.get(ref, ())) > 1)
    report.routing_to_auto_replies = sum(len(team.get(ref, ())) for ref in refs - routed)
    report.redelivered = ledger.redelivered()
    counts: dict[str, int] = {}
    for d in ledger.deliveries():
        counts[d.message_id] = counts.get(d.message_id, 0) + 1
    report.redelivered_ids = [mid for mid, n in counts.items() if n > 1]
