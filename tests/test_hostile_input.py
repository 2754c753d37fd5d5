"""Hostile input: every message is processed or quarantined, in bounded time and memory,
and the daemon goes on with the next one.

Three levels: each hand-made hostile message through `parse_message`; the same messages
through a running `triaje run` (real Dovecot in, real SMTP out); and generated malformed
variants of real messages (hypothesis) through the parser and through the runner.
"""

from __future__ import annotations

import email
import signal
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from email import policy

import pytest
from chaos import mails
from chaos.harness import append_many, wait_until
from chaos.hostile import HOSTILE, JINJA_BODY, JINJA_SUBJECT, VICTIM
from chaos.scenario import Scenario
from helpers import build_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.db import utcnow
from pipeline.errors import ParseError
from pipeline.ingest import rawstore
from pipeline.process import runner
from pipeline.process.parse import ParsedMessage, parse_message
from pipeline.schema import inbound

MAX_BYTES = 25 * 1024 * 1024
HANG = 60  # seconds: a message that takes this long is hanging, not slow


class Hang(Exception):
    pass


@contextmanager
def hang_guard(seconds: int = HANG):
    """Interrupt a call that hangs (the hypothesis deadline only measures afterwards)."""
    def fire(_signum, _frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def parse_or_quarantine(raw: bytes) -> ParsedMessage | None:
    """The parse stage's contract: a record, or ParseError (which means quarantine)."""
    with hang_guard():
        try:
            return parse_message(raw, MAX_BYTES)
        except ParseError:
            return None


@pytest.mark.parametrize("name", list(HOSTILE))
def test_each_hostile_message_parses_or_is_refused_cleanly(name):
    raw = HOSTILE[name](1)
    started = time.perf_counter()
    parsed = parse_or_quarantine(raw)
    print(f"\n{name}: {len(raw)} bytes, {time.perf_counter() - started:.2f} s, "
          f"{'parsed' if parsed else 'quarantined'}")
    if parsed is None:
        return
    assert "\n" not in parsed.subject and "\r" not in parsed.subject
    assert "\x00" not in parsed.subject + parsed.from_addr + parsed.text
    assert len(parsed.text) <= len(raw)
    if name == "jinja_syntax":
        assert parsed.subject == JINJA_SUBJECT and "{{ 6*7 }}" in parsed.text


@pytest.mark.dovecot
@pytest.mark.slow
def test_daemon_survives_every_hostile_message(dovecot, tmp_path, database_url):
    names = list(HOSTILE)
    with Scenario(dovecot, tmp_path, 2, "hostile", automatic_share=0.0,
                  database_url=database_url) as s:
        s.desk.append(s.corpus[0].raw)
        for i, name in enumerate(names):  # one by one: the 50 MB one would not fit a batch
            append_many(dovecot, s.desk.user, [HOSTILE[name](i)])
        s.desk.append(s.corpus[1].raw)
        total = len(names) + 2
        settled = wait_until(lambda: s.desk.settled(total), 240, 0.5)
        alive = s.daemon.alive()
        report = s.finish(timeout=30, expected=total)
    rows = s.desk.query("select message_id, subject, state, stage, reason, automatic, size "
                        "from inbound order by id")
    print(f"\n{report.summary()}")
    for row in rows:
        print(f"  {row[2]:11} {row[6]:>10} B  {row[3] or '-':8} {str(row[4] or '')[:60]:60} "
              f"{str(row[1] or '')[:40]!r}")
    failed = s.desk.query("select kind, recipients, last_error from outbox where state = 'failed'")
    print(f"  outbox failed: {failed}")
    assert settled and alive, s.daemon.output()[-3000:]
    assert len(rows) == total and {r[2] for r in rows} <= {"processed", "quarantined"}
    assert report.lost_acks == 0 and report.duplicated == 0  # both ordinary mails answered
    assert report.peak_rss_mb < 1500, "memory is not bounded"
    check_outgoing_mail(s)


def check_outgoing_mail(s: Scenario) -> None:
    deliveries = s.ledger.deliveries()
    assert all(VICTIM not in d.rcpts for d in deliveries)
    for got in s.receiver.messages:
        msg = email.message_from_bytes(got.data, policy=policy.default)
        assert msg["Bcc"] is None and msg["X-Evil"] is None
        assert "\n" not in str(msg["Subject"])
    jinja = [m for m in s.receiver.messages
             if "hostile12@example.com" in m.rcpt_tos]
    assert len(jinja) == 1
    ack = email.message_from_bytes(jinja[0].data, policy=policy.default)
    text = ack.get_body(("plain",)).get_content()
    html = ack.get_body(("html",)).get_content()
    assert "{{ 7*7 }}" in str(ack["Subject"]) and "49" not in str(ack["Subject"])
    assert "{{ 6*7 }}" in text and "42" not in text.replace(JINJA_BODY, "")
    assert "{{ 6*7 }}" in html and "&lt;" not in JINJA_BODY


# -- generated malformed messages ---------------------------------------------------------

REAL = mails.real_messages()
NASTY = [b"\x00", b"\r", b"\n", b"\r\n\r\n", b"=?", b"?=", b"=?utf-8?b?", b"--", b"\xff\xfe",
         b"Content-Type: multipart/mixed; boundary=x\r\n", b"charset=x-bogus\r\n",
         b"Content-Transfer-Encoding: base64\r\n", b"=ZZ", b"{{ 7*7 }}", b"{% for %}",
         b"Message-ID: <a@b>\r\n", b"From: =?utf-8?q?a=0D=0Ab?=\r\n", b"\t", b" " * 2000]


@st.composite
def malformed(draw) -> bytes:
    """A real message, then a few byte-level mutations: splice, cut, duplicate, truncate."""
    raw = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(("insert", "delete", "repeat", "truncate", "flip")))
        if action == "insert":
            raw[at:at] = draw(st.sampled_from(NASTY) | st.binary(max_size=40))
        elif action == "delete":
            del raw[at:at + draw(st.integers(1, 400))]
        elif action == "repeat":
            raw[at:at] = raw[at:at + draw(st.integers(1, 300))] * draw(st.integers(2, 50))
        elif action == "truncate":
            del raw[at:]
        elif raw and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
    return bytes(raw)


@settings(max_examples=300, deadline=timedelta(seconds=10), derandomize=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(malformed())
def test_malformed_real_messages_parse_or_quarantine(raw):
    parse_or_quarantine(raw)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile-runner")
    env = build_env({"database": {"url": f"sqlite:///{path / 'triaje.db'}"}, "mailboxes": [],
                     "desk": {"addresses": ["desk@example.org"], "sender_limit": 1_000_000},
                     "outbox": {"from": "Mesa <desk@example.org>", "recipient_limit": 1_000_000},
                     "routing": {"default": ["n1@example.org"]}})
    with env.engine.begin() as conn:  # warm up (lazy imports, language models) before timing
        warm = rawstore.store_raw(conn, rawstore.Origin("fuzz", "INBOX"), REAL[-1])
    runner.process_ids(env, [warm])
    return env


@settings(max_examples=80, deadline=timedelta(seconds=10),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(raw=malformed())
def test_malformed_real_messages_through_the_runner(env, raw):
    """Stored, run through every stage: processed or quarantined, never an exception."""
    with env.engine.begin() as conn:
        origin = rawstore.Origin("fuzz", "INBOX", source_key=uuid.uuid4().hex)
        inbound_id = rawstore.store_raw(conn, origin, raw)
        if inbound_id is None:  # same Message-ID as an earlier example: store it anyway
            inbound_id = conn.execute(inbound.insert().values(
                mailbox="fuzz", folder="INBOX", dedupe_key=uuid.uuid4().hex, raw=raw,
                size=len(raw), state="fetched", attempts=0, received_at=utcnow(),
                server_done=True)).inserted_primary_key[0]
    with hang_guard():
        summary = runner.process_ids(env, [inbound_id])
    assert summary.new_tickets + summary.followups + summary.quarantined == 1
    with env.engine.connect() as conn:
        state = conn.execute(inbound.select().where(inbound.c.id == inbound_id)).one().state
    assert state in ("processed", "quarantined")
