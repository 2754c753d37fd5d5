"""Outbox over real SMTP (aiosmtpd on loopback): exact bytes, retries, failure, AUTH, STARTTLS."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.config import from_dict
from pipeline.db import as_utc, open_database, utcnow
from pipeline.errors import ConfigError
from pipeline.outbound import admin, planner, queue, sender
from pipeline.outbound.templatecheck import sample_context
from pipeline.schema import inbound, predictions, sent_journal, tickets
from pipeline.schema import outbox as outbox_table

try:
    from tests.smtp_receiver import Receiver, free_port, smtp_receiver
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    from smtp_receiver import Receiver, free_port, smtp_receiver  # noqa: F401

T0 = dt.datetime(2026, 11, 27, 16, 45, tzinfo=dt.UTC)
DESK = "desk@example.org"


def outbound(url: str, **smtp):
    data = {"smtp": {"url": url, "from": f"Mesa de servicio <{DESK}>", **smtp},
            "routing": {"default": "n1@example.org", "triage": "triage@example.org"}}
    return from_dict(data).outbound


@pytest.fixture
def engine(database_url):
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def seed(engine, raw: bytes = b"x", guesses: dict | None = None) -> tuple[int, int]:
    """A ticket and its processed message (raw bytes and predictions), as the sender reads them."""
    now, key = utcnow(), uuid.uuid4().hex
    with engine.begin() as conn:
        ticket_id = conn.execute(tickets.insert().values(
            ref=f"SD-{key[:8]}", mailbox="desk", subject="s", requester="ana@example.org",
            language="es", status="open", created_at=now, updated_at=now)).inserted_primary_key[0]
        inbound_id = conn.execute(inbound.insert().values(
            mailbox="desk", folder="INBOX", dedupe_key=key, raw=raw, size=len(raw),
            state="processed", attempts=0, received_at=now, server_done=False,
            ticket_id=ticket_id)).inserted_primary_key[0]
        for head, guess in (guesses or {}).items():
            conn.execute(predictions.insert().values(
                inbound_id=inbound_id, head=head, label=guess.label, confidence=guess.confidence,
                needs_review=guess.needs_review, model_version="m1", created_at=now))
    return ticket_id, inbound_id


def queue_mails(engine, cfg, now=T0) -> list[int]:
    """Compose the ack and routing mail of one message and queue them, like the daemon does."""
    raw = ("From: Ana <ana@example.org>\r\nTo: desk@example.org\r\nSubject: Impresora\r\n"
           "Message-ID: <m-" + uuid.uuid4().hex + "@example.org>\r\nContent-Type: text/plain; "
           "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nNo imprime, ¿podéis mirarlo?"
           "\r\n.\r\n..dos puntos\r\n").encode()
    ctx = sample_context("es", raw=raw)
    ticket_id, inbound_id = seed(engine, raw, ctx.predictions)
    ctx = replace(ctx, ticket_id=ticket_id, inbound_id=inbound_id)
    with engine.begin() as conn:
        return queue.enqueue_detailed(conn, planner.plan_mails(cfg, ctx, conn), now).ids


def rows(engine) -> dict[int, dict]:
    with engine.connect() as conn:
        return {r.id: dict(r._mapping) for r in conn.execute(select(outbox_table))}


def test_drain_delivers_exactly_the_stored_bytes(engine, smtp_receiver):
    cfg = outbound(smtp_receiver.url)
    ids = queue_mails(engine, cfg)
    assert sender.drain(engine, cfg, now=T0) == sender.DrainResult(sent=2, retried=0, failed=0)
    stored = rows(engine)
    received = {m.rcpt_tos[0]: m for m in smtp_receiver.messages}
    assert len(smtp_receiver.messages) == 2
    for row_id in ids:
        row = stored[row_id]
        got = received[row["recipients"]]
        assert got.data == row["raw"]
        assert got.mail_from == DESK
        assert (row["state"], row["attempts"]) == ("sent", 1)
        assert as_utc(row["sent_at"]) == T0
    assert any(b"\xc2\xbfpod\xc3\xa9is" in m.data for m in smtp_receiver.messages)  # 8-bit original
    assert sender.drain(engine, cfg, now=T0 + dt.timedelta(hours=1)) == sender.DrainResult()
    assert len(smtp_receiver.messages) == 2


def test_server_down_is_retried_with_backoff_then_sent_once(engine, caplog):
    receiver = Receiver()  # has a port, but nothing listens yet
    cfg = outbound(receiver.url)
    first, second = queue_mails(engine, cfg)
    caplog.set_level(logging.WARNING, logger="pipeline.outbound.outbox")
    assert sender.drain(engine, cfg, now=T0) == sender.DrainResult(retried=1)
    row = rows(engine)[first]
    assert row["state"] == "queued" and row["attempts"] == 1
    assert as_utc(row["next_attempt_at"]) == T0 + dt.timedelta(seconds=30)
    assert "ConnectionRefusedError" in row["last_error"]
    assert rows(engine)[second]["attempts"] == 0  # the batch stopped at the unreachable server
    # the second mail is still due, the first is not: one attempt each, backoff per row
    assert sender.drain(engine, cfg, now=T0 + dt.timedelta(seconds=10)) == \
        sender.DrainResult(retried=1)
    assert sender.drain(engine, cfg, now=T0 + dt.timedelta(seconds=20)) == sender.DrainResult()
    assert sender.drain(engine, cfg, now=T0 + dt.timedelta(seconds=31)) == \
        sender.DrainResult(retried=1)
    assert as_utc(rows(engine)[first]["next_attempt_at"]) == \
        T0 + dt.timedelta(seconds=31 + 60)  # doubled
    receiver.start()
    try:
        assert sender.drain(engine, cfg, now=T0 + dt.timedelta(seconds=120)) == \
            sender.DrainResult(sent=2)
        assert sender.drain(engine, cfg, now=T0 + dt.timedelta(hours=2)) == sender.DrainResult()
    finally:
        receiver.stop()
    assert sorted(m.rcpt_tos[0] for m in receiver.messages) == ["ana@example.org",
                                                                 "n1@example.org"]
    outage = [r for r in caplog.records if receiver.url.split("//")[1] in r.getMessage()]
    assert [r.getMessage().endswith("works again") for r in outage] == [False, True]


def test_max_attempts_marks_failed_and_retry_requeues(engine):
    receiver = Receiver()
    cfg = outbound(receiver.url, max_attempts=2)
    ids = queue_mails(engine, cfg)
    now = T0
    results = []
    for _ in range(6):
        results.append(sender.drain(engine, cfg, now=now))
        now += dt.timedelta(hours=1)
    assert sum(r.failed for r in results) == 2 and sum(r.retried for r in results) == 2
    assert {rows(engine)[i]["state"] for i in ids} == {"failed"}
    assert [r["id"] for r in admin.list_rows(engine, "failed")] == sorted(ids, reverse=True)
    assert admin.retry(engine, [ids[0]], now=now) == 1
    receiver.start()
    try:
        assert sender.drain(engine, cfg, now=now) == sender.DrainResult(sent=1)
        assert admin.retry(engine, None, now=now) == 1
        assert sender.drain(engine, cfg, now=now) == sender.DrainResult(sent=1)
    finally:
        receiver.stop()
    assert len(receiver.messages) == 2
    assert {rows(engine)[i]["state"] for i in ids} == {"sent"}


def test_backoff_doubles_and_is_capped():
    cfg = outbound("smtp://127.0.0.1:25")
    steps = [sender.backoff(cfg, n).total_seconds() for n in range(1, 10)]
    assert steps == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_permanent_refusal_fails_at_once_and_partial_refusal_still_sends(engine, smtp_receiver):
    smtp_receiver.recorder.refuse["n1@example.org"] = "550 5.1.1 no such user"
    cfg = outbound(smtp_receiver.url)
    ids = queue_mails(engine, cfg)
    assert sender.drain(engine, cfg, now=T0) == sender.DrainResult(sent=1, failed=1)
    failed = [r for r in rows(engine).values() if r["state"] == "failed"]
    assert failed[0]["recipients"] == "n1@example.org" and "550" in failed[0]["last_error"]
    assert failed[0]["attempts"] == 1 and len(ids) == 2
    # several recipients, one refused: the others get it and the row says who did not
    cfg2 = replace(cfg, routing=replace(cfg.routing, default=("n1@example.org", "n3@example.org")))
    queue_mails(engine, cfg2)
    assert sender.drain(engine, cfg2, now=T0).sent == 2
    route_row = next(r for r in admin.list_rows(engine) if r["kind"] == "route")
    assert route_row["state"] == "sent" and "n1@example.org: 550" in route_row["last_error"]


def test_temporary_refusal_is_retried(engine, smtp_receiver):
    smtp_receiver.recorder.refuse["n1@example.org"] = "451 4.3.0 try later"
    cfg = outbound(smtp_receiver.url)
    queue_mails(engine, cfg)
    assert sender.drain(engine, cfg, now=T0) == sender.DrainResult(sent=1, retried=1)
    smtp_receiver.recorder.refuse.clear()
    assert sender.drain(engine, cfg, now=T0 + dt.timedelta(seconds=30)) == \
        sender.DrainResult(sent=1)


def test_resend_after_a_crash_is_the_same_message(engine, smtp_receiver):
    cfg = outbound(smtp_receiver.url)
    ack_id, _ = queue_mails(engine, cfg)
    claimed = sender._claim(engine, ack_id, T0)  # a sender took the row, composed it,
    claimed = sender._materialise(engine, cfg, claimed)  # then was killed
    assert claimed is not None and claimed.attempts == 1
    assert sender.drain(engine, cfg, now=T0 + dt.timedelta(seconds=10)).sent == 1  # the other row
    later = T0 + sender.LEASE + dt.timedelta(seconds=1)
    assert sender.drain(engine, cfg, now=later) == sender.DrainResult(sent=1)
    resent = [m for m in smtp_receiver.messages if m.data == claimed.raw]
    assert len(resent) == 1 and claimed.message_id.encode() in resent[0].data


def test_auth_reads_the_password_from_the_environment_and_never_logs_it(engine, monkeypatch,
                                                                        caplog):
    receiver = Receiver(users={"desk": "s3cr3t-pw"}).start()
    caplog.set_level(logging.DEBUG)
    try:
        cfg = outbound(receiver.url, username="desk", password_env="TEST_SMTP_PW")
        queue_mails(engine, cfg)
        monkeypatch.delenv("TEST_SMTP_PW", raising=False)
        assert sender.drain(engine, cfg, now=T0) == sender.DrainResult(retried=1)
        assert "TEST_SMTP_PW" in next(r for r in admin.list_rows(engine)
                                      if r["last_error"])["last_error"]
        monkeypatch.setenv("TEST_SMTP_PW", "wrong")
        assert sender.drain(engine, cfg, now=T0 + dt.timedelta(hours=1)).retried == 1
        monkeypatch.setenv("TEST_SMTP_PW", "s3cr3t-pw")
        assert sender.drain(engine, cfg, now=T0 + dt.timedelta(hours=2)).sent == 2
    finally:
        receiver.stop()
    assert [m.login for m in receiver.messages] == ["desk", "desk"]
    assert "s3cr3t-pw" not in caplog.text and "wrong" not in caplog.text
    assert all("s3cr3t-pw" not in (r["last_error"] or "") for r in admin.list_rows(engine))


def test_auth_password_from_a_file(engine, tmp_path):
    secret = tmp_path / "smtp-password"
    secret.write_text("from-a-file\n")
    receiver = Receiver(users={"desk": "from-a-file"}).start()
    try:
        cfg = outbound(receiver.url, username="desk", password_file=str(secret))
        queue_mails(engine, cfg)
        assert sender.drain(engine, cfg, now=T0).sent == 2
    finally:
        receiver.stop()


def _private_ca(tmp_path):
    """A CA and a certificate for 127.0.0.1 signed by it, written as PEM files."""
    import ipaddress

    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(name("test CA"))
            .public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "server.pem").write_bytes(cert.public_bytes(pem))
    (tmp_path / "server.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    return str(tmp_path / "ca.pem"), server


def test_starttls_verifies_the_certificate_against_ca_file(engine, tmp_path):
    ca_file, server_context = _private_ca(tmp_path)
    receiver = Receiver(tls_context=server_context, users={"desk": "pw"}).start()
    try:
        untrusted = outbound(receiver.url, starttls=True)
        queue_mails(engine, untrusted)
        assert sender.drain(engine, untrusted, now=T0) == sender.DrainResult(retried=1)
        assert "CERTIFICATE_VERIFY_FAILED" in next(
            r["last_error"] for r in admin.list_rows(engine) if r["last_error"])
        assert receiver.messages == []
        trusted = outbound(receiver.url, starttls=True, ca_file=ca_file, username="desk",
                           password_file=str(_write(tmp_path / "pw", "pw")))
        assert sender.drain(engine, trusted, now=T0 + dt.timedelta(hours=1)).sent == 2
    finally:
        receiver.stop()
    assert [m.login for m in receiver.messages] == ["desk", "desk"]


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("smtp, key", [
    ({"url": "smtp://mail.example.org:587", "username": "desk"}, "smtp.starttls"),
    ({"url": "smtps://mail.example.org", "starttls": True}, "smtp.starttls"),
    ({"url": "smtp://desk:pw@mail.example.org"}, "smtp.url"),
    ({"url": "imap://mail.example.org"}, "smtp.url"),
    ({"url": "smtp://mail.example.org", "password_env": "X"}, "smtp.username"),
    ({"url": "smtps://m.example.org", "username": "d", "password_env": "X",
      "password_file": "/x"}, "smtp.password_env"),
    ({"url": "smtps://m.example.org", "ca_file": "/does/not/exist.pem"}, "smtp.ca_file"),
    ({"url": "smtps://m.example.org", "max_attempts": 0}, "smtp.max_attempts"),
    ({"url": "smtps://m.example.org", "password": "pw"}, "smtp.password"),
])
def test_bad_smtp_config_names_the_key(smtp, key):
    with pytest.raises(ConfigError) as caught:
        from_dict({"smtp": {"from": "Desk <desk@example.org>", **smtp}})
    assert caught.value.key == key


def test_smtp_defaults():
    cfg = from_dict({"smtp": {"url": "smtps://mail.example.org",
                              "from": "Desk <desk@example.org>"}}).outbound
    assert (cfg.smtp.port, cfg.max_attempts, cfg.smtp.timeout, cfg.reply_to) == \
        (465, 8, 30.0, "desk@example.org")
    assert cfg.smtp.ehlo_name == "example.org" and cfg.smtp.password_env is None
    assert free_port() > 0


@pytest.mark.parametrize(("lease", "words"), [(2, "at least 3"), ("soon", "whole number")])
def test_the_outbox_lease_is_short_by_default_and_a_bad_one_names_the_key(lease, words):
    smtp = {"url": "smtps://mail.example.org", "from": "Desk <desk@example.org>"}
    assert from_dict({"smtp": smtp}).outbound.outbox.lease == 30  # renewed while a mail is sent
    with pytest.raises(ConfigError) as caught:
        from_dict({"smtp": smtp, "outbox": {"lease": lease}})
    assert caught.value.key == "outbox.lease" and words in str(caught.value)
    assert "Fix:" in str(caught.value)


def test_a_crash_after_the_server_accepted_does_not_send_again(engine, smtp_receiver,
                                                               monkeypatch):
    """The 250 came back, then the process died before the row was marked (with SQLite the
    mark may wait behind an ingest batch). The sent journal remembers the acceptance, so
    the next drain marks the row instead of sending it again after the lease."""
    from pipeline.outbound.sentjournal import NOTE

    cfg = outbound(smtp_receiver.url)
    first, second = queue_mails(engine, cfg)

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt  # stands for SIGKILL right after the server's 250

    monkeypatch.setattr(sender, "_mark_sent", killed)
    with pytest.raises(KeyboardInterrupt):
        sender.drain(engine, cfg, now=T0)
    monkeypatch.undo()
    assert len(smtp_receiver.messages) == 1 and rows(engine)[first]["state"] == "queued"
    after_lease = T0 + sender.LEASE + dt.timedelta(seconds=1)
    assert sender.drain(engine, cfg, now=after_lease) == sender.DrainResult(sent=1)
    assert len(smtp_receiver.messages) == 2  # the second mail; the first was not repeated
    assert len({m.data for m in smtp_receiver.messages}) == 2
    marked = rows(engine)[first]
    assert (marked["state"], marked["last_error"]) == ("sent", NOTE)
    assert rows(engine)[second]["state"] == "sent"
    assert _journal(engine) == [str(second), rows(engine)[second]["message_id"]]  # applied,
    # and holding only the new mail


def _journal(engine) -> list[str]:
    """The sent journal's entries: a file beside SQLite, a table on PostgreSQL."""
    if engine.dialect.name == "sqlite":
        return Path(f"{engine.url.database}.sent").read_text().split()
    with engine.connect() as conn:
        return [str(v) for r in conn.execute(select(sent_journal.c.outbox_id,
                                                    sent_journal.c.message_id)) for v in r]
