"""Secrets: known passwords never show up in logs, errors, reports or the database, and a
self-signed server certificate is refused unless its CA is configured (IMAPS, STARTTLS)."""

from __future__ import annotations

import base64
import os
import random
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chaos import mails
from chaos.harness import Desk, Ledger, counting_receiver, wait_until
from chaos.hostile import nested_multipart
from conftest import make_mail
from helpers import build_env

from pipeline.errors import FetchError
from pipeline.ingest.poller import MailboxPoller
from pipeline.outbound import sender

pytestmark = pytest.mark.dovecot
SMTP_USER, SMTP_PW = "desk-smtp", "smtp-Secr3t-7f3a9c"
WRONG_PW = "wrong-Secr3t-0b1d2e"


def triaje(config: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "-vv", "--config", str(config),
                           *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, check=False)


def forms(secret: str) -> list[bytes]:
    """The secret as it could leak: plain, and inside an AUTH PLAIN or LOGIN exchange."""
    plain = secret.encode()
    return [plain, base64.b64encode(plain), base64.b64encode(f"\0{SMTP_USER}\0{secret}".encode())]


def leaks(blob: bytes, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets for form in forms(secret) if form in blob]


def test_passwords_appear_nowhere(dovecot, tmp_path):
    receiver = counting_receiver(users={SMTP_USER: SMTP_PW}).start()
    desk = Desk(dovecot, tmp_path, receiver.url)
    desk.config["smtp"].update(username=SMTP_USER, password_env="TRIAJE_SMTP_PASSWORD")
    env = {desk.password_env: desk.password, "TRIAJE_SMTP_PASSWORD": SMTP_PW}
    secrets = [desk.password, SMTP_PW, WRONG_PW]
    outputs: list[str] = []
    daemon = desk.process(extra_env={"TRIAJE_SMTP_PASSWORD": SMTP_PW}, verbose=2)
    try:
        daemon.start()
        for mail in mails.corpus(5, random.Random(2), 0.0, tag="secret"):
            desk.append(mail.raw)
        desk.append(nested_multipart(1))  # quarantined: an error path with a report
        assert wait_until(lambda: desk.settled(6), 60)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    config = desk.write_config()
    for args in (("config", "check"), ("quarantine", "list", "--json")):
        done = triaje(config, *args, env=env)
        outputs += [done.stdout, done.stderr]
    bad = triaje(config, "poll", "--once", "--json", env={**env, desk.password_env: WRONG_PW})
    bad_smtp = triaje(config, "outbox", "send", env={**env, "TRIAJE_SMTP_PASSWORD": WRONG_PW})
    outputs += [bad.stdout, bad.stderr, bad_smtp.stdout, bad_smtp.stderr, daemon.output()]
    receiver.stop()
    assert bad.returncode == 1 and "unreachable" in bad.stdout
    assert Ledger(receiver).deliveries() and receiver.messages[0].login == SMTP_USER
    text = "\n".join(outputs).encode()
    assert leaks(text, secrets) == [], "a password in the output"
    ours = b"".join(m.data for m in receiver.messages)
    assert leaks(ours, secrets) == [], "a password in an outgoing mail"
    database = b"".join(p.read_bytes() for p in tmp_path.glob(f"{desk.db_path.name}*"))
    assert len(database) > 100_000 and leaks(database, secrets) == [], "a password in the database"
    assert len(text) > 10_000  # debug logging was on: there was plenty to leak into


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_self_signed_certificates_need_their_ca(dovecot, tmp_path, monkeypatch, caplog):
    """IMAPS and SMTP STARTTLS with self-signed certificates: refused, saying why (and no
    password in the words), accepted once `ca_file` names the certificate. In process: the
    daemon runs the same poller and outbox code."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    receiver = counting_receiver(users={SMTP_USER: SMTP_PW}, tls_context=context).start()
    monkeypatch.setenv("TRIAJE_SMTP_PASSWORD", SMTP_PW)
    try:
        desk = Desk(dovecot, tmp_path, receiver.url)
        monkeypatch.setenv(desk.password_env, desk.password)
        desk.config["mailboxes"][0]["url"] = (
            f"imaps://{desk.user}@127.0.0.1:{dovecot.imaps_port}/INBOX")
        desk.config["smtp"].update(starttls=True, username=SMTP_USER,
                                   password_env="TRIAJE_SMTP_PASSWORD")
        desk.append(make_mail(subject="La impresora no imprime"))
        env = build_env(desk.config)
        with pytest.raises(FetchError, match="certificate"):
            MailboxPoller(env, env.config.mailboxes[0]).poll(force=True)
        desk.config["mailboxes"][0]["ca_file"] = dovecot.ca_file
        env = build_env(desk.config)
        assert MailboxPoller(env, env.config.mailboxes[0]).poll(force=True).new_tickets == 1
        refused = sender.drain(env.engine, env.config.outbound)
        desk.config["smtp"]["ca_file"] = str(cert)
        later = datetime.now(UTC) + timedelta(hours=1)  # past the retry backoff
        sent = sender.drain(env.engine, build_env(desk.config).config.outbound, now=later)
    finally:
        receiver.stop()
    assert refused.sent == 0 and "certificate verify failed" in caplog.text
    assert sent.sent == 2 and receiver.messages[0].login == SMTP_USER
    assert leaks(caplog.text.encode(), [desk.password, SMTP_PW]) == []
