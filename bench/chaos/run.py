"""Chaos benchmark: the guarantees under crashes, outages and hostile input, in one table.

Runs `triaje run` as a child process against a real Dovecot (on /dev/shm) and a real SMTP
receiver on loopback, with the scenarios of tests/chaos:

- crash:    N messages at random moments, the daemon SIGKILLed M times and restarted;
- outages:  the IMAP server killed mid-batch, SMTP refusing (421) then gone, the database
            locked by another process;
- hostile:  18 hostile messages (1,000-level nesting, a 50 MB attachment, 10,000 header
            lines, NUL bytes, broken encodings and charsets, header injection, Jinja2 ...).

Prints one row per scenario: messages, kills, lost, duplicated acks, mails re-sent with the
same Message-ID (the SMTP at-least-once window), quarantined, peak RSS of the daemon, wall
time, and the seconds to drain after the last restart.

    python bench/chaos/run.py            # CI sizes: N = 300, M = 10 (about 5 minutes)
    python bench/chaos/run.py --soak     # N = 10,000, M = 100
    python bench/chaos/run.py --messages 1000 --kills 30 --seed 7
    python bench/chaos/run.py --only crash --daemons 3 --engine postgresql --messages 1000 --kills 20

`--daemons N` runs N `triaje run` on the one database and mailbox, each kill hitting a
random one; `--engine postgresql` uses a PostgreSQL cluster of its own (tests/postgres.py).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from chaos.crash import CrashReport, run_crash  # noqa: E402
from chaos.harness import append_many, wait_until  # noqa: E402
from chaos.hostile import HOSTILE  # noqa: E402
from chaos.outages import run_outages  # noqa: E402
from chaos.scenario import Scenario  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from postgres import Postgres  # noqa: E402

COLUMNS = ("scenario", "messages", "kills", "lost", "dup acks", "re-sent", "quarantined",
           "peak RSS MB", "wall s", "drain s")


def hostile(server: Dovecot, workdir: Path) -> CrashReport:
    names = list(HOSTILE)
    with Scenario(server, workdir, 2, "hostile", automatic_share=0.0) as s:
        s.desk.append(s.corpus[0].raw)
        for i, name in enumerate(names):
            append_many(server, s.desk.user, [HOSTILE[name](i)])
        s.desk.append(s.corpus[1].raw)
        wait_until(lambda: s.desk.settled(len(names) + 2), 300, 0.5)
        report = s.finish(timeout=60, expected=len(names) + 2)
    report.messages = len(names) + 2
    return report


def row(name: str, r: CrashReport) -> tuple:
    return (name, r.messages, r.kills, r.lost, r.duplicated_acks, r.redelivered, r.quarantined,
            f"{r.peak_rss_mb:.0f}", f"{r.wall_seconds:.0f}",
            f"{r.drain_seconds:.1f}" if r.kills else "-")


def print_table(rows: list[tuple]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(COLUMNS, *rows, strict=True)]
    for line in (COLUMNS, *rows):
        print("  ".join(str(x).rjust(w) for x, w in zip(line, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--soak", action="store_true", help="N = 10,000, M = 100")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--kills", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", choices=("crash", "outages", "hostile"), default=None)
    parser.add_argument("--daemons", type=int, default=1, help="daemons in the crash scenario")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    cluster = Postgres().start() if args.engine == "postgresql" else None
    try:
        run(args, cluster)
    finally:
        if cluster is not None:
            cluster.cleanup()


def run(args: argparse.Namespace, cluster: Postgres | None) -> None:
    def database() -> str | None:
        return cluster.create_database() if cluster is not None else None

    n = args.messages or (10_000 if args.soak else 300)
    kills = args.kills if args.kills is not None else (100 if args.soak else 10)
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    feed = max(60.0, n / 16)  # about 16 messages a second: a busy desk, many kills per hour
    rows, notes = [], []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="triaje-chaos-") as tmp:
        work = Path(tmp)
        if args.only in (None, "crash"):
            server = Dovecot().start()
            try:
                report = run_crash(server, work / "crash", n, kills, seed, feed,
                                   drain_timeout=600, database_url=database(),
                                   daemons=args.daemons)
            finally:
                server.cleanup()
            rows.append(row("crash", report))
            notes.append(f"crash: {args.engine}, {args.daemons} daemon(s), seed {seed}; "
                         f"{report.summary()}")
            if report.redelivered_ids:
                notes.append(f"re-sent Message-IDs: {report.redelivered_ids}")
        for name, scenario in (("outages", run_outages), ("hostile", hostile)):
            if args.only not in (None, name):
                continue
            server = Dovecot().start()
            try:
                report = scenario(server, work / name)
            finally:
                server.cleanup()
            rows.append(row(name, report))
            notes.append(f"{name}: {report.summary()}")
    print_table(rows)
    print(f"total wall time {time.monotonic() - started:.0f} s")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
