"""Benchmark: triaje's ingest rate against the raw IMAP fetch floor, same server, same run.

For each engine (SQLite, and PostgreSQL from tests/postgres.py) and each way of running
(`poll --once`, and `triaje run --workers 1` and `--workers 2`): APPENDs N mixed messages
(the bundled sample mailbox, re-addressed and varied, with follow-ups to earlier ones and
some out-of-office replies) to a fresh user of a real Dovecot on /dev/shm, times a plain
imapclient UID FETCH BODY.PEEK[] of all of them in batches of 200 (the physical floor,
measured again for every row so a busy machine slows both sides of the ratio), then lets
triaje fetch and process them in a child process with a fresh database. `run` is timed
from its start (so model loading counts) until every message is processed or quarantined
(read from the database); "steady msg/s" is from the first message processed to the last.

The write-stage time is what the runner logs per batch ("write stages N ms"); peak RSS is
the largest process of the child's tree (wait4). Numbers, never assertions. Targets on the
2-core development machine (issue 13): one worker >= 500 msg/s, `poll --once` >= 5 % of
the raw fetch, two workers >= 1.6 x one on PostgreSQL, write stages <= 0.5 ms per mail.

    python bench/ingest/run.py [--messages 3000] [--models DIR] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.utils import make_msgid
from pathlib import Path

from imapclient import IMAPClient
from sqlalchemy import create_engine, func, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from dovecot import Dovecot  # noqa: E402
from postgres import Postgres  # noqa: E402

from pipeline.schema import inbound  # noqa: E402

SAMPLE = ROOT / "pipeline" / "sample_mailbox" / "new"
MODES = (("poll", 1), ("run", 1), ("run", 2))
WRITE_LINE = re.compile(r"batch of (\d+): write stages ([\d.]+) ms")
FOLLOWUP_SHARE, AUTO_SHARE = 0.2, 0.03


def corpus(n: int, seed: int = 7) -> list[bytes]:
    """N messages made from the sample mailbox, each with its own Message-ID and subject;
    a fifth are replies to an earlier one (same sender, In-Reply-To), a few out-of-office."""
    rng = random.Random(seed)
    bases = [p.read_bytes() for p in sorted(SAMPLE.iterdir()) if p.is_file()]
    sent: list[tuple[str, str, str]] = []  # message-id, subject, from
    out = []
    for i in range(n):
        msg = message_from_bytes(bases[rng.randrange(len(bases))], policy=policy.default)
        for name in ("Message-ID", "Subject", "From", "In-Reply-To", "References"):
            del msg[name]
        msg["Message-ID"] = make_msgid(idstring=str(i), domain="bench.example.com")
        if sent and rng.random() < FOLLOWUP_SHARE:
            mid, subject, sender = sent[rng.randrange(len(sent))]
            msg["Subject"], msg["From"] = f"Re: {subject}", sender
            msg["In-Reply-To"], msg["References"] = mid, mid
        else:
            msg["Subject"] = f"{_subject(bases, rng)} #{i}"
            msg["From"] = f"user{rng.randrange(2000)}@example.com"
            sent.append((msg["Message-ID"], msg["Subject"], msg["From"]))
        if rng.random() < AUTO_SHARE:
            msg["Auto-Submitted"] = "auto-replied"
        out.append(msg.as_bytes())
    return out


def _subject(bases: list[bytes], rng: random.Random) -> str:
    msg = message_from_bytes(bases[rng.randrange(len(bases))], policy=policy.default)
    return str(msg.get("Subject", "")) or "consulta"


def append_all(server: Dovecot, user: str, messages: list[bytes]) -> None:
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(user, server.add_user(user))
        for i in range(0, len(messages), 500):
            c.multiappend("INBOX", messages[i:i + 500])


def raw_fetch(server: Dovecot, user: str) -> float:
    """Messages per second of a plain UID FETCH BODY.PEEK[] in batches of 200."""
    start = time.perf_counter()
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(user, server.add_user(user))
        c.select_folder("INBOX", readonly=True)
        uids = c.search()
        got = 0
        for i in range(0, len(uids), 200):
            got += len(c.fetch(uids[i:i + 200], ["BODY.PEEK[]"]))
    return got / (time.perf_counter() - start)


@dataclass
class Row:
    engine: str
    mode: str
    workers: int
    messages: int
    seconds: float
    raw_rate: float
    write_ms: float | None
    rss_mb: float
    span: float  # first to last message processed: the rate once started


    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def write_config(workdir: Path, url: str, server: Dovecot, user: str, models: str | None) -> Path:
    config = workdir / "triaje.toml"
    config.write_text(f"""
[database]
url = "{url}"
[[mailboxes]]
name = "bench"
url = "imap://{user}@127.0.0.1:{server.imap_port}/INBOX"
password_env = "BENCH_PW"
start = "all"
idle = false
[desk]
addresses = ["desk@example.org"]
sender_limit = 1000000
[routing]
default = "cau@example.org"
triage = "triage@example.org"
[classifier]
models_dir = "{models or workdir / 'no-models'}"
""")
    return config


def _done(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(inbound).where(
                inbound.c.state.in_(("processed", "quarantined")))).scalar_one()
    except Exception:  # the daemon has not created the tables yet
        return 0
    finally:
        engine.dispose()


def _span(url: str) -> float:
    engine = create_engine(url)
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(inbound.c.processed_at),
                                          func.max(inbound.c.processed_at))).one()
    engine.dispose()
    return (last - first).total_seconds()


def run_triaje(config: Path, url: str, env: dict, mode: str, workers: int,
               expected: int, log: Path) -> tuple[float, float]:
    """Seconds until all `expected` are done, and the tree's peak RSS in MB."""
    base = [sys.executable, "-m", "pipeline.cli", "--config", str(config)]
    command = base + (["poll", "--once", "--json"] if mode == "poll"
                      else ["run", "--workers", str(workers)])
    with open(log, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        ended = None if mode == "run" else os.wait4(proc.pid, 0)
        while ended is None and _done(url) < expected:
            time.sleep(0.2)
            ended = _exited(proc.pid)
        elapsed = time.perf_counter() - start
        if ended is None:
            proc.send_signal(signal.SIGTERM)
            ended = os.wait4(proc.pid, 0)
        proc.returncode = 0  # reaped above by wait4, which also gives the rusage
    _, status, usage = ended
    if mode == "poll" and status != 0:
        raise SystemExit(f"triaje poll failed:\n{log.read_text()[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024


def _exited(pid: int):
    found = os.wait4(pid, os.WNOHANG)
    return found if found[0] else None


def write_ms(log: Path) -> float | None:
    found = WRITE_LINE.findall(log.read_text(errors="replace"))
    count = sum(int(n) for n, _ in found)
    return sum(float(ms) for _, ms in found) / count if count else None


def one_row(server: Dovecot, engine: str, url: str, mode: str, workers: int,
            messages: list[bytes], models: str | None, keep: Path) -> Row:
    user = f"bench-{engine}-{mode}-{workers}-{time.monotonic_ns()}"
    append_all(server, user, messages)
    raw_rate = raw_fetch(server, user)
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), url, server, user, models)
        env = {**os.environ, "BENCH_PW": server.add_user(user)}
        log = keep / f"{engine}-{mode}-{workers}.log"
        seconds, rss = run_triaje(config, url, env, mode, workers, len(messages), log)
        done, span = _done(url), _span(url)
    return Row(engine, mode, workers, done, seconds, raw_rate, write_ms(log), rss, span)


def database_url(engine: str, workdir: Path, pg: Postgres | None, name: str) -> str:
    if engine == "sqlite":
        return f"sqlite:///{workdir / name}.db"
    assert pg is not None
    return pg.create_database()


def print_table(rows: list[Row]) -> None:
    one = {r.engine: r.rate for r in rows if r.mode == "run" and r.workers == 1}
    print(f"{'engine':<11}{'workers':>10}{'msg/s':>9}{'raw FETCH':>11}{'ratio raw':>11}"
          f"{'2w/1w':>7}{'steady msg/s':>14}{'write ms/mail':>15}{'peak RSS MB':>13}"
          f"{'messages':>10}{'wall s':>8}")
    for r in rows:
        label = "poll" if r.mode == "poll" else f"run {r.workers}"
        scale = f"{r.rate / one[r.engine]:.2f}" if r.mode == "run" and r.workers == 2 else "-"
        wms = f"{r.write_ms:.2f}" if r.write_ms is not None else "-"
        print(f"{r.engine:<11}{label:>10}{r.rate:>9,.0f}{r.raw_rate:>11,.0f}"
              f"{r.rate / r.raw_rate:>11.1%}{scale:>7}{(r.messages - 1) / r.span:>14,.0f}"
              f"{wms:>15}{r.rss_mb:>13,.0f}"
              f"{r.messages:>10}{r.seconds:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--models", default=None, help="models dir (default: no classifier)")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--logs", default=None, help="keep the children's logs here")
    args = parser.parse_args()
    engines = args.engines.split(",")
    messages = corpus(args.messages)
    server = Dovecot().start()
    pg = Postgres().start() if "postgresql" in engines else None
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            keep = Path(args.logs or tmp)
            keep.mkdir(parents=True, exist_ok=True)
            for engine in engines:
                for i, (mode, workers) in enumerate(MODES):
                    url = database_url(engine, Path(tmp), pg, f"db{i}")
                    rows.append(one_row(server, engine, url, mode, workers, messages,
                                        args.models, keep))
                    print(f"  {engine} {mode} {workers}: {rows[-1].rate:,.0f} msg/s", flush=True)
    finally:
        server.cleanup()
        if pg is not None:
            pg.cleanup()
    print(f"{len(messages)} mixed messages, classifier {'on' if args.models else 'off'}")
    print_table(rows)


if __name__ == "__main__":
    main()
