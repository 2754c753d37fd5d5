"""Building blocks of the chaos scenarios: a config writer, `triaje run` as a killable
process, an SMTP receiver that counts what it got, and a thread that feeds a mailbox.

Everything talks to real things: the daemon is `python -m pipeline.cli run` in its own
process (so SIGKILL is a real crash), mail comes from a real Dovecot and leaves through a
real SMTP server (aiosmtpd) on loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

from dovecot import Dovecot
from imapclient import IMAPClient
from smtp_receiver import Receiver, Recorder
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[2]


def to_toml(data: dict) -> str:
    """A nested dict as TOML: scalars and lists via JSON (valid TOML), tables, [[arrays]]."""
    lines: list[str] = []
    _emit(lines, "", data)
    return "\n".join(lines).strip() + "\n"


def _is_table_list(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _emit(lines: list[str], prefix: str, table: dict) -> None:
    for key, value in table.items():
        if not isinstance(value, dict) and not _is_table_list(value):
            lines.append(f"{key} = {json.dumps(value)}")
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            lines.append(f"\n[{name}]")
            _emit(lines, name, value)
        elif _is_table_list(value):
            for item in value:
                lines.append(f"\n[[{name}]]")
                _emit(lines, name, item)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# -- the daemon as a process -------------------------------------------------------------

class TriajeProcess:
    """`triaje run` in a child process; every start appends to one log file."""

    def __init__(self, config: Path, env: dict[str, str], log: Path, verbose: int = 0) -> None:
        self.config, self.env, self.log = config, env, log
        self.flags = ["-" + "v" * verbose] if verbose else []
        self.proc: subprocess.Popen | None = None
        self.starts = self.kills = 0
        self.started_at = 0.0
        self.log_offset = 0  # where this start's lines begin in the shared log
        self.peak_rss_kb = 0
        self.exit_codes: list[int] = []

    def start(self) -> TriajeProcess:
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", *self.flags, "--config", str(self.config),
                 "run"],
                stdout=out, stderr=out, env={**os.environ, **self.env}, cwd=self.config.parent,
                start_new_session=True)
        self.starts += 1
        self.started_at = time.monotonic()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def sample_rss(self) -> int:
        """VmHWM is the peak since the process started, so one late sample is enough."""
        if self.alive():
            try:
                for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
            except (OSError, ValueError):
                pass
        return self.peak_rss_kb

    def kill(self) -> None:
        """A crash: SIGKILL, no chance to finish anything."""
        if not self.alive():
            return
        self.sample_rss()
        self.proc.send_signal(signal.SIGKILL)
        self.exit_codes.append(self.proc.wait())
        self.kills += 1

    def stop(self, timeout: float = 30.0) -> int | None:
        """A clean stop (SIGTERM); returns the exit status, None if it had to be killed."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.sample_rss()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        self.exit_codes.append(code)
        return code

    def wait_running(self, timeout: float = 60.0) -> bool:
        """Until this start has logged "daemon running" (its signal handlers are set).
        Only this start's lines count: a start killed before it got that far logs nothing,
        and counting lines against starts then waited out the whole timeout."""
        return wait_until(lambda: "triaje daemon running" in self.output()[self.log_offset:]
                          or not self.alive(), timeout, 0.1) and self.alive()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


# -- the SMTP side ------------------------------------------------------------------------

@dataclass
class CountingRecorder(Recorder):
    """Recorder that can refuse for a while (`refusing` = the reply to MAIL FROM) and
    calls `on_message` for every accepted mail (a relay or a responder hangs off it)."""

    refusing: str | None = None
    refused: int = 0
    on_message: Callable[[bytes, list[str]], None] | None = None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refusing:
            self.refused += 1
            return self.refusing
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if self.on_message is not None:
            self.on_message(envelope.original_content, list(envelope.rcpt_tos))
        return reply


def counting_receiver(**kwargs) -> Receiver:
    receiver = Receiver(**kwargs)
    receiver.recorder = CountingRecorder()
    return receiver


@dataclass(frozen=True)
class Delivery:
    message_id: str
    user_mail: bool  # Auto-Submitted: auto-replied (ack, follow-up note); else a team mail
    ticket: str
    in_reply_to: str
    rcpts: tuple[str, ...]
    subject: str


def delivery(data: bytes, rcpts: list[str]) -> Delivery:
    msg = BytesHeaderParser(policy=policy.default).parsebytes(data)
    return Delivery(str(msg.get("Message-ID", "")).strip().lower(),
                    str(msg.get("Auto-Submitted", "")).strip() == "auto-replied",
                    str(msg.get("X-Triaje-Ticket", "")).strip(),
                    str(msg.get("In-Reply-To", "")).strip().lower(), tuple(rcpts),
                    str(msg.get("Subject", "")))


class Ledger:
    """Counts what a receiver got: by Message-ID, by ticket reference, by original mail."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def deliveries(self) -> list[Delivery]:
        """Parsed once per received mail (the cache lives on the recorder)."""
        recorder = self.receiver.recorder
        with recorder.lock:
            got = list(self.receiver.messages)
        cache: list[Delivery] = recorder.__dict__.setdefault("parsed", [])
        cache.extend(delivery(m.data, m.rcpt_tos) for m in got[len(cache):])
        return cache[:len(got)]

    def distinct_ids(self) -> set[str]:
        return {d.message_id for d in self.deliveries()}

    def redelivered(self) -> int:
        """Deliveries of a Message-ID already delivered: the same stored mail sent again."""
        counts = Counter(d.message_id for d in self.deliveries())
        return sum(n - 1 for n in counts.values())

    def by_origin(self, user_mail: bool) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for d in self.deliveries():
            if d.user_mail == user_mail:
                found[d.in_reply_to].add(d.message_id)
        return found

    def by_ticket(self, user_mail: bool) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for d in self.deliveries():
            if d.user_mail == user_mail:
                found[d.ticket].add(d.message_id)
        return found


# -- the IMAP side ------------------------------------------------------------------------

def imap_client(server: Dovecot, user: str) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=server.imap_port, ssl=False, timeout=30)
    client.login(user, server.add_user(user))
    return client


def folder_count(server: Dovecot, user: str, folder: str = "INBOX") -> int:
    with imap_client(server, user) as client:
        if not client.folder_exists(folder):
            return 0
        return int(client.folder_status(folder, ["MESSAGES"])[b"MESSAGES"])


class Feeder(threading.Thread):
    """Appends messages at random intervals over about `duration` seconds, with bursts;
    survives a server outage by reconnecting (nothing it was given is skipped)."""

    def __init__(self, server: Dovecot, user: str, messages: list[bytes], duration: float,
                 rng: random.Random) -> None:
        super().__init__(name="feeder", daemon=True)
        self.server, self.user, self.messages = server, user, messages
        self.gaps = _gaps(len(messages), duration, rng)
        self.appended = 0
        self.reconnects = 0
        self.stop = threading.Event()

    def run(self) -> None:
        client: IMAPClient | None = None
        for raw, gap in zip(self.messages, self.gaps, strict=True):
            if self.stop.wait(gap):
                break
            client = self._append(client, raw)
        if client is not None:
            _quietly(client.logout)

    def _append(self, client: IMAPClient | None, raw: bytes) -> IMAPClient | None:
        while not self.stop.is_set():
            try:
                client = client or imap_client(self.server, self.user)
                client.append("INBOX", raw)
                self.appended += 1
                return client
            except Exception:  # the server is down for a while: try again
                client = None
                self.reconnects += 1
                time.sleep(0.3)
        return client


def _gaps(n: int, duration: float, rng: random.Random) -> list[float]:
    """Exponential gaps, but one message in 20 starts a burst of 10 back to back."""
    mean = duration / max(n, 1)
    gaps, burst = [], 0
    for _ in range(n):
        if burst:
            burst -= 1
            gaps.append(0.0)
            continue
        if rng.random() < 0.05:
            burst = 9
        gaps.append(rng.expovariate(1 / mean) if mean > 0 else 0.0)
    scale = duration / sum(gaps) if sum(gaps) > 0 else 0
    return [g * scale for g in gaps]


def _quietly(func: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):
        func()


# -- one desk: mailbox, config, database, daemon -------------------------------------------

@dataclass
class Desk:
    """A desk mailbox on Dovecot with its own config and database (SQLite in the workdir
    unless `database_url` names another, e.g. one of tests/postgres.py)."""

    server: Dovecot
    workdir: Path
    smtp_url: str | None
    name: str = "desk"
    address: str = "desk@example.org"
    prefix: str = "SD"
    user: str = field(default_factory=lambda: f"chaos{uuid.uuid4().hex[:10]}")
    config: dict = field(default_factory=dict)
    database_url: str | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.password = self.server.add_user(self.user)
        self.password_env = f"TRIAJE_PW_{self.name.upper()}"
        self.database_url = self.database_url or f"sqlite:///{self.workdir / self.name}.db"
        self.db_path = Path(self.database_url.removeprefix("sqlite:///"))  # SQLite only
        self.config = self.config or self.default_config()
        self._engine = None

    def default_config(self) -> dict:
        cfg = {
            "database": {"url": self.database_url},
            "mailboxes": [{
                "name": self.name, "password_env": self.password_env,
                "url": f"imap://{self.user}@127.0.0.1:{self.server.imap_port}/INBOX",
                "start": "all", "idle": True, "poll_interval": 5, "timeout": 10,
                "processed_folder": "Processed"}],
            "desk": {"addresses": [self.address], "ticket_prefix": self.prefix},
            "classifier": {"models_dir": str(self.workdir / "models")},
            "outbox": {"retry_base": 1, "retry_max": 4, "lease": 5},
            "routing": {"default": ["n1@example.org"], "triage": ["triage@example.org"]},
        }
        if self.smtp_url:
            cfg["smtp"] = {"url": self.smtp_url, "from": f"Mesa <{self.address}>", "timeout": 5}
        else:
            cfg["outbox"]["from"] = f"Mesa <{self.address}>"
        return cfg

    def write_config(self) -> Path:
        path = self.workdir / f"{self.name}.toml"
        path.write_text(to_toml(self.config), encoding="utf-8")
        return path

    def process(self, log: Path | None = None, extra_env: dict[str, str] | None = None,
                verbose: int = 0) -> TriajeProcess:
        env = {self.password_env: self.password, **(extra_env or {})}
        return TriajeProcess(self.write_config(), env, log or self.workdir / f"{self.name}.log",
                             verbose)

    def append(self, raw: bytes) -> None:
        with imap_client(self.server, self.user) as client:
            client.append("INBOX", raw)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def query(self, sql: str, **params: object) -> list[tuple]:
        if self.is_sqlite and not self.db_path.exists():
            return []
        if self._engine is None:
            args = {"timeout": 30} if self.is_sqlite else {}
            self._engine = create_engine(self.database_url, poolclass=NullPool,
                                         connect_args=args)
        try:
            with self._engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql), params)]
        except DBAPIError:  # no tables yet: the daemon is still migrating
            return []

    def scalar(self, sql: str, **params: object) -> int:
        rows = self.query(sql, **params)
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def settled(self, expected_inbound: int) -> bool:
        """Every message stored and processed (or quarantined), no mail waiting to go out."""
        return (self.scalar("select count(*) from inbound") >= expected_inbound
                and self.scalar("select count(*) from inbound "
                                "where state in ('fetched', 'processing')") == 0
                and self.scalar("select count(*) from outbox where state = 'queued'") == 0)


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""
# PostgreSQL has no database lock: every table the pipeline writes, exclusively
PG_LOCKER = """
import sys, time
from sqlalchemy import create_engine, text
with create_engine(sys.argv[1]).begin() as conn:
    conn.execute(text("LOCK TABLE inbound, outbox, tickets, mailbox_state IN ACCESS EXCLUSIVE MODE"))
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def lock_database(desk: Desk, seconds: float) -> subprocess.Popen:
    """Another process holds the database (SQLite: `BEGIN EXCLUSIVE`; PostgreSQL: an
    exclusive lock on the tables) for `seconds`; returns once the lock is held."""
    code, target = (LOCKER, str(desk.db_path)) if desk.is_sqlite else (PG_LOCKER,
                                                                        desk.database_url)
    proc = subprocess.Popen([sys.executable, "-c", code, target, str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "locked":
        raise RuntimeError("the locker could not take the database lock")
    return proc


def append_many(server: Dovecot, user: str, messages: list[bytes]) -> None:
    with imap_client(server, user) as client:
        client.multiappend("INBOX", messages)


def hard_stop(server: Dovecot) -> int:
    """Stop Dovecot like a crash or a reboot would: the master, and also the processes
    serving open sessions (a plain stop lets those live on). Returns how many were killed;
    only children of this server's master are touched."""
    master = server.pid()
    if master is None:
        return 0
    children = _children(master)
    os.kill(master, signal.SIGTERM)  # no new logins from now on
    killed = 0
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    server.stop()  # waits until the master is gone
    return killed


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == parent:
            found.append(int(entry.name))
    return found
