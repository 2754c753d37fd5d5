"""Benchmark: triaje's ingest rate against the raw IMAP fetch floor, same server, same run.

APPENDs N realistic messages (the bundled sample mailbox, re-addressed and varied) to a
real Dovecot on /dev/shm, times a plain imapclient UID FETCH BODY.PEEK[] of all of them in
batches of 200 (the physical floor), then `triaje poll --once` on the same mailbox in a
child process (so its peak RSS is its own). Prints both rates, their ratio and peak RSS.
Target: triaje >= 30 % of the raw rate, peak RSS < 300 MB.

    python bench/ingest/run.py [--messages 5000] [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from email import message_from_bytes, policy
from email.utils import make_msgid
from pathlib import Path

from imapclient import IMAPClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from dovecot import Dovecot  # noqa: E402

SAMPLE = ROOT / "pipeline" / "sample_mailbox" / "new"


def corpus(n: int, seed: int = 7) -> list[bytes]:
    """N messages made from the sample mailbox, each with its own Message-ID and subject."""
    rng = random.Random(seed)
    bases = [message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in sorted(SAMPLE.iterdir()) if p.is_file()]
    out = []
    for i in range(n):
        msg = bases[rng.randrange(len(bases))]
        del msg["Message-ID"]
        msg["Message-ID"] = make_msgid(idstring=str(i), domain="bench.example.com")
        subject = str(msg.get("Subject", ""))
        del msg["Subject"]
        msg["Subject"] = f"{subject} #{i}"
        del msg["From"]
        msg["From"] = f"user{rng.randrange(2000)}@example.com"
        out.append(msg.as_bytes())
    return out


def append_all(server: Dovecot, user: str, messages: list[bytes]) -> float:
    start = time.perf_counter()
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(user, server.add_user(user))
        for i in range(0, len(messages), 500):
            c.multiappend("INBOX", messages[i:i + 500])
    return time.perf_counter() - start


def raw_fetch(server: Dovecot, user: str) -> tuple[int, float]:
    start = time.perf_counter()
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(user, server.add_user(user))
        c.select_folder("INBOX", readonly=True)
        uids = c.search()
        got = 0
        for i in range(0, len(uids), 200):
            got += len(c.fetch(uids[i:i + 200], ["BODY.PEEK[]"]))
    return got, time.perf_counter() - start


def parse_floor(messages: list[bytes]) -> dict[str, float]:
    """Rates of parsing alone, in this process: the stdlib parser with the policy issue 2
    names (policy.default) and with compat32, next to the raw fetch they are compared to."""
    rates = {}
    for name, pol in (("policy.default", policy.default), ("compat32", policy.compat32)):
        start = time.perf_counter()
        for raw in messages:
            message_from_bytes(raw, policy=pol)
        rates[name] = len(messages) / (time.perf_counter() - start)
    return rates


def triaje_poll(server: Dovecot, user: str, workdir: Path, models: str | None) -> tuple[dict, float]:
    config = workdir / "triaje.toml"
    config.write_text(f"""
[database]
url = "sqlite:///{workdir}/triaje.db"
[[mailboxes]]
name = "bench"
url = "imap://{user}@127.0.0.1:{server.imap_port}/INBOX"
password_env = "BENCH_PW"
start = "all"
idle = false
[desk]
addresses = ["desk@example.org"]
sender_limit = 1000000
[classifier]
models_dir = "{models or workdir / 'no-models'}"
""")
    env = {**os.environ, "BENCH_PW": server.add_user(user)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "--config", str(config), "poll",
                           "--once", "--json"], env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"triaje poll failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--models", default=None, help="models dir (default: no classifier)")
    args = parser.parse_args()
    server = Dovecot().start()
    try:
        messages = corpus(args.messages)
        appended = append_all(server, "bench", messages)
        got, raw_s = raw_fetch(server, "bench")
        floors = parse_floor(messages)
        with tempfile.TemporaryDirectory() as tmp:
            summary, triaje_s = triaje_poll(server, "bench", Path(tmp), args.models)
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    finally:
        server.cleanup()
    raw_rate, triaje_rate = got / raw_s, summary["fetched"] / triaje_s
    print(f"messages appended        {len(messages):>10}   ({len(messages) / appended:,.0f}/s)")
    print(f"raw imapclient fetch     {raw_rate:>10,.0f} msg/s  ({got} in {raw_s:.2f} s)")
    print(f"triaje poll --once       {triaje_rate:>10,.0f} msg/s  ({summary['fetched']} in "
          f"{triaje_s:.2f} s, classifier {'on' if args.models else 'off'})")
    print(f"ratio triaje/raw         {triaje_rate / raw_rate:>10.1%}   (target >= 30 %)")
    for name, rate in floors.items():
        print(f"stdlib parse, {name:<15}{rate:>6,.0f} msg/s  ({rate / raw_rate:.1%} of raw; parsing only)")
    print(f"peak RSS triaje          {rss_mb:>10.0f} MB    (target < 300 MB)")
    print(f"summary                  {summary}")


if __name__ == "__main__":
    main()
