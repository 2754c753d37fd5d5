"""Benchmark: time from APPEND to the acknowledgement arriving at a real SMTP receiver.

Starts a Dovecot on /dev/shm and an aiosmtpd receiver on loopback, runs `triaje run` as a
child process, APPENDs N messages one by one at random intervals and records, per message,
the time until its ack (matched by In-Reply-To) reaches the receiver. Runs twice: with IMAP
IDLE, and with plain polling every --poll-interval seconds as the reference. Prints p50,
p95 and max for both. Target: p95 under 1 s with IDLE.

    python bench/ack_latency/run.py [--messages 200] [--poll-interval 60] [--models DIR]
                                    [--workers N]

--workers is `triaje run --workers` (default: one per core; 1 processes in the daemon
itself). With workers the daemon only fetches, and the mail they queue must reach its
sender: compare `--workers 1` with the default to see what that costs.
"""

from __future__ import annotations

import argparse
import email
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email import policy
from pathlib import Path

from aiosmtpd.controller import Controller
from imapclient import IMAPClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import make_mail  # noqa: E402
from dovecot import Dovecot, free_port  # noqa: E402


class Clock:
    """SMTP handler that notes when each ack arrived, keyed by the message it answers."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        now = time.monotonic()
        msg = email.message_from_bytes(envelope.original_content, policy=policy.compat32)
        if msg.get("Auto-Submitted") == "auto-replied":
            with self.lock:
                self.arrived.setdefault(str(msg.get("In-Reply-To", "")).strip().lower(), now)
        return "250 OK"


def config(workdir: Path, server: Dovecot, user: str, smtp_port: int, idle: bool,
           interval: int, models: str | None) -> Path:
    path = workdir / f"triaje-{'idle' if idle else 'poll'}.toml"
    path.write_text(f"""
[database]
url = "sqlite:///{workdir}/{'idle' if idle else 'poll'}.db"
[[mailboxes]]
name = "desk"
url = "imap://{user}@127.0.0.1:{server.imap_port}/INBOX"
password_env = "BENCH_PW"
start = "all"
idle = {'true' if idle else 'false'}
poll_interval = {interval}
[desk]
addresses = ["desk@example.org"]
sender_limit = 100000
[classifier]
models_dir = "{models or workdir / 'no-models'}"
[smtp]
url = "smtp://127.0.0.1:{smtp_port}"
from = "Mesa <desk@example.org>"
[outbox]
recipient_limit = 100000
[routing]
default = "n1@example.org"
""")
    return path


def run_mode(server: Dovecot, idle: bool, args, workdir: Path) -> list[float]:
    user = f"lat{'idle' if idle else 'poll'}"
    clock, port = Clock(), free_port()
    controller = Controller(clock, hostname="127.0.0.1", port=port)
    controller.start()
    path = config(workdir, server, user, port, idle, args.poll_interval, args.models)
    env = {**os.environ, "BENCH_PW": server.add_user(user)}
    log = open(workdir / f"{user}.log", "w")  # noqa: SIM115 - closed below
    workers = ["--workers", str(args.workers)] if args.workers else []
    daemon = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "--config", str(path), "run",
                               *workers], env=env, stdout=log, stderr=log)
    try:
        ready = "IDLE watcher ready" if idle else "triaje daemon running"
        wait_for_line(workdir / f"{user}.log", ready, daemon)
        warm_up(server, user, clock)
        appended = append_slowly(server, user, args.messages, args.seed)
        deadline = time.monotonic() + args.poll_interval + 30
        while (sum(mid in clock.arrived for mid in appended) < len(appended)
               and time.monotonic() < deadline):
            time.sleep(0.2)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        controller.stop()
        log.close()
    print(breakdown(workdir / f"{'idle' if idle else 'poll'}.db"))
    return [clock.arrived[mid] - sent for mid, sent in appended.items() if mid in clock.arrived]


def breakdown(db: Path) -> str:
    """Where the time went, from the database's own timestamps: stored to processed (the
    processing side), processed to the ack's send (the sender's side)."""
    from sqlalchemy import select

    from pipeline.db import as_utc, make_engine
    from pipeline.schema import inbound, outbox

    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(select(inbound.c.received_at, inbound.c.processed_at, outbox.c.sent_at)
                            .join(outbox, outbox.c.inbound_id == inbound.c.id)
                            .where(outbox.c.kind == "ack", outbox.c.sent_at.is_not(None),
                                   inbound.c.sender != "warm@example.com")).all()
    engine.dispose()
    if len(rows) < 2:
        return "  breakdown: too few acks"
    parts = {"stored→processed": [(as_utc(r.processed_at) - as_utc(r.received_at)).total_seconds()
                                  for r in rows],
             "processed→sent": [(as_utc(r.sent_at) - as_utc(r.processed_at)).total_seconds()
                                for r in rows]}
    return "\n".join(f"  {name:<18} p50 {statistics.quantiles(v, n=100)[49]:6.3f} s  "
                      f"p95 {statistics.quantiles(v, n=100)[94]:6.3f} s" for name, v in parts.items())


def wait_for_line(log: Path, line: str, daemon: subprocess.Popen, timeout: float = 120) -> None:
    """Start the clock only once the daemon is up: its start-up (imports, model load) is
    not the latency of a message, and counting it made the first seconds of mail look slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if line in log.read_text(errors="replace"):
            return
        if daemon.poll() is not None:
            raise SystemExit(f"triaje run exited early:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    raise SystemExit(f"triaje run did not log {line!r} within {timeout} s")


def warm_up(server: Dovecot, user: str, clock: Clock, timeout: float = 120) -> None:
    """One mail through the whole path before the clock starts: worker processes start
    after the daemon logs that it runs (imports, engine), and their start is not the
    latency of a message either (it made the first 4 s of mail look slow with workers)."""
    mid = f"<lat-{user}-warm-up@example.com>"
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(user, server.add_user(user))
        c.append("INBOX", make_mail(subject="Calentamiento", sender="warm@example.com",
                                    message_id=mid))
    deadline = time.monotonic() + timeout
    while mid.lower() not in clock.arrived:
        if time.monotonic() > deadline:
            raise SystemExit(f"the warm-up mail got no ack within {timeout} s")
        time.sleep(0.05)


def append_slowly(server: Dovecot, user: str, n: int, seed: int) -> dict[str, float]:
    rng, appended = random.Random(seed), {}
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(user, server.add_user(user))
        time.sleep(0.5)  # the watcher logs "ready" just before it issues IDLE
        for i in range(n):
            mid = f"<lat-{user}-{i}@example.com>"
            c.append("INBOX", make_mail(subject=f"La impresora no imprime {i}",
                                        sender=f"user{i}@example.com", message_id=mid))
            appended[mid] = time.monotonic()
            time.sleep(rng.uniform(0.05, 0.5))
    return appended


def describe(name: str, values: list[float], expected: int) -> str:
    if not values:
        return f"{name:<22} no acks arrived (of {expected})"
    q = statistics.quantiles(values, n=100) if len(values) > 1 else [values[0]] * 99
    return (f"{name:<22} acks {len(values):>4}/{expected}  p50 {q[49]:7.3f} s  "
            f"p95 {q[94]:7.3f} s  max {max(values):7.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--poll-interval", type=int, default=60)
    parser.add_argument("--models", default=None, help="models dir (default: no classifier)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--skip-polling", action="store_true")
    parser.add_argument("--workers", type=int, default=None,
                        help="triaje run --workers (default: one per core)")
    args = parser.parse_args()
    server = Dovecot().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            idle = run_mode(server, True, args, Path(tmp))
            poll = [] if args.skip_polling else run_mode(server, False, args, Path(tmp))
    finally:
        server.cleanup()
    print(f"workers: {args.workers or f'default ({os.cpu_count()})'}")
    print(describe("IMAP IDLE", idle, args.messages))
    if not args.skip_polling:
        print(describe(f"polling every {args.poll_interval} s", poll, args.messages))
    print("target: p95 under 1 s with IDLE")


if __name__ == "__main__":
    main()
