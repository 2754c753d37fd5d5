"""XOAUTH2 login (`oauth2_token_env`, `oauth2_token_command`) against a real Dovecot.

The Dovecot here is its own instance (module scope, so the session one stays password-only)
whose `oauth2` passdb validates every bearer token with an in-process RFC 7662
introspection endpoint. A login therefore succeeds only if triaje sent the right token over
XOAUTH2 and the endpoint said it is active for that user; the endpoint's record of the
tokens it was asked about proves the check really happened.
"""

from __future__ import annotations

import base64
import itertools
import logging
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DeskBox, make_mail
from dovecot import Dovecot
from helpers import build_env, count, inbound_rows
from imapclient import IMAPClient
from oauth2_introspection import IntrospectionServer

from pipeline.errors import FetchError
from pipeline.ingest import poller
from pipeline.ingest.poller import MailboxPoller

pytestmark = pytest.mark.dovecot

TOKEN_ENV = "TRIAJE_TEST_OAUTH2_TOKEN"
_counter = itertools.count(1)


@pytest.fixture(scope="module")
def introspection() -> Iterator[IntrospectionServer]:
    server = IntrospectionServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oauth_dovecot(introspection: IntrospectionServer) -> Iterator[Dovecot]:
    server = Dovecot(oauth2_introspection_url=introspection.url).start()
    yield server
    server.cleanup()


@pytest.fixture
def box(oauth_dovecot: Dovecot) -> DeskBox:
    """A fresh user; DeskBox's own helpers (append, uids) still log in with PLAIN."""
    return DeskBox(oauth_dovecot, f"oauth{next(_counter)}")


def new_token() -> str:
    """Unique per test, and shaped like a real bearer token (dots, dashes, underscores)."""
    return f"ya29.{secrets.token_urlsafe(32)}"


def oauth_config(box: DeskBox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 **secret: str) -> dict:
    """The suite's usual mailbox config with the password source swapped for an OAuth2 one
    (the config accepts exactly one secret source)."""
    cfg = box.config(tmp_path, monkeypatch, **secret)
    del cfg["mailboxes"][0]["password_env"]
    return cfg


def logged_in_with(server: Dovecot, user: str, mechanism: str, timeout: float = 5.0) -> bool:
    """Dovecot's own log line for the login: proves which SASL mechanism was used."""
    wanted = f"Login: user=<{user}>, method={mechanism},"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # the log process writes it a moment later
        if wanted in (server.dir / "dovecot.log").read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


def test_token_from_env_logs_in_and_poll_registers_mail(box, introspection, oauth_dovecot,
                                                        tmp_path, monkeypatch):
    token = new_token()
    introspection.grant(token, box.user)
    monkeypatch.setenv(TOKEN_ENV, token)
    box.append(make_mail(subject="No arranca el portátil"))
    env = build_env(oauth_config(box, tmp_path, monkeypatch, oauth2_token_env=TOKEN_ENV))
    summary, failed = poller.poll_once(env)
    assert failed == []
    assert (summary.fetched, summary.new_tickets) == (1, 1)
    assert [r["subject"] for r in inbound_rows(env)] == ["No arranca el portátil"]
    assert introspection.asked_about(token)
    assert logged_in_with(oauth_dovecot, box.user, "XOAUTH2")


def test_token_from_command_is_fetched_afresh_for_each_connection(
        box, introspection, oauth_dovecot, tmp_path, monkeypatch):
    """Access tokens live about an hour: the command must run at every login, not once."""
    token_file = tmp_path / "current-token"
    script = tmp_path / "get-token"
    script.write_text(f"#!/bin/sh\nexec cat '{token_file}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    first, second = new_token(), new_token()
    introspection.grant(first, box.user)
    token_file.write_text(first + "\n")  # a trailing newline, as most token helpers print
    env = build_env(oauth_config(box, tmp_path, monkeypatch, oauth2_token_command=str(script)))
    box.append(make_mail(subject="primero"))
    summary, failed = poller.poll_once(env)
    assert failed == [] and summary.new_tickets == 1

    introspection.revoke(first)  # the first token expires; the helper now prints a new one
    introspection.grant(second, box.user)
    token_file.write_text(second + "\n")
    box.append(make_mail(subject="segundo"))
    summary, failed = poller.poll_once(env)
    assert failed == [] and summary.new_tickets == 1
    assert count(env) == 2
    assert introspection.asked_about(first) and introspection.asked_about(second)


def test_token_from_printf_command(box, introspection, tmp_path, monkeypatch):
    token = new_token()
    introspection.grant(token, box.user)
    box.append(make_mail(subject="por comando"))
    env = build_env(oauth_config(box, tmp_path, monkeypatch,
                                 oauth2_token_command=f"printf %s {token}"))
    summary, failed = poller.poll_once(env)
    assert failed == [] and summary.new_tickets == 1
    assert introspection.asked_about(token)


def test_poll_login_goes_through_the_introspection_check(box, introspection, oauth_dovecot,
                                                         tmp_path, monkeypatch):
    """The login is decided by the endpoint: asked exactly once per login, with our token,
    and Dovecot records an XOAUTH2 login (not the PLAIN one the test helpers use)."""
    token = new_token()
    introspection.grant(token, box.user)
    monkeypatch.setenv(TOKEN_ENV, token)
    env = build_env(oauth_config(box, tmp_path, monkeypatch, oauth2_token_env=TOKEN_ENV))
    assert introspection.seen.count(token) == 0
    assert poller.poll_once(env)[1] == []
    assert introspection.seen.count(token) == 1
    assert logged_in_with(oauth_dovecot, box.user, "XOAUTH2")


def test_fixture_also_speaks_oauthbearer_and_plain(box, introspection, oauth_dovecot):
    """The opt-in oauth2 passdb adds mechanisms without taking PLAIN away from other users."""
    token = new_token()
    introspection.grant(token, box.user)
    client = IMAPClient("127.0.0.1", port=oauth_dovecot.imap_port, ssl=False)
    try:
        assert b"AUTH=XOAUTH2" in client.capabilities()
        client.oauthbearer_login(box.user, token)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()
    with box.client() as plain:
        assert plain.select_folder("INBOX")[b"EXISTS"] == 0


def test_expired_token_is_a_clear_error_that_never_shows_the_token(
        box, introspection, tmp_path, monkeypatch, caplog):
    """Last in the module on purpose: after a failed login Dovecot delays every further
    login from 127.0.0.1 for a while (its auth penalty), which would slow the other tests."""
    caplog.set_level(logging.DEBUG)  # imapclient logs the protocol at DEBUG
    token = new_token()
    introspection.grant(token, box.user)
    introspection.revoke(token)  # known to the provider, but no longer active
    monkeypatch.setenv(TOKEN_ENV, token)
    box.append(make_mail(subject="no debe entrar"))
    env = build_env(oauth_config(box, tmp_path, monkeypatch, oauth2_token_env=TOKEN_ENV))
    with pytest.raises(FetchError) as err:
        MailboxPoller(env, env.config.mailboxes[0]).poll(force=True)
    text = str(err.value)
    assert "mailbox desk" in text and "AUTHENTICATIONFAILED" in text
    assert "cannot connect" not in text  # the server answered; the credentials were refused
    assert box.user in text and "XOAUTH2" in text
    assert introspection.asked_about(token)  # refused by the token check, not before it
    assert count(env) == 0
    # neither the token nor the XOAUTH2 string that carries it (base64 on the wire)
    wire = base64.b64encode(f"user={box.user}\1auth=Bearer {token}\1\1".encode()).decode()
    for leak in (token, wire):
        assert leak not in text
        assert leak not in caplog.text
    assert "mailbox=desk" in caplog.text  # the failure itself was logged


def test_a_failing_token_command_is_an_outage_not_a_crash(box, oauth_dovecot, tmp_path,
                                                          monkeypatch, caplog):
    """The identity provider is down: the token command fails. That mailbox is reported and
    backed off like an unreachable server, and the next mailbox is still polled."""
    other = DeskBox(oauth_dovecot, f"oauth{next(_counter)}")
    other.append(make_mail(subject="otra cola"))
    cfg = oauth_config(box, tmp_path, monkeypatch, oauth2_token_command="false")
    second = other.config(tmp_path, monkeypatch)["mailboxes"][0]
    cfg["mailboxes"].append({**second, "name": "other"})
    env = build_env(cfg)
    caplog.set_level(logging.ERROR)
    summary, failed = poller.poll_once(env)
    assert failed == ["desk"] and summary.new_tickets == 1
    errors = [r.getMessage() for r in caplog.records if "token command" in r.getMessage()]
    assert errors and all(e.count("mailbox desk:") <= 1 for e in errors)
    first = MailboxPoller(env, env.config.mailboxes[0])
    with pytest.raises(FetchError, match="token command") as raised:
        first.poll(force=True)
    assert str(raised.value).count("mailbox desk") == 1 and first.retry_at > 0


def test_a_missing_secret_is_a_configuration_error_not_an_outage(box, tmp_path, monkeypatch):
    """An unset variable will not fix itself: it stops the command with the key and the
    fix (exit 2 at the CLI) instead of being retried forever as 'unreachable'."""
    from pipeline.errors import SecretError, TokenCommandError

    env = build_env(oauth_config(box, tmp_path, monkeypatch,
                                 oauth2_token_env="TRIAJE_TEST_NO_SUCH_TOKEN"))
    monkeypatch.delenv("TRIAJE_TEST_NO_SUCH_TOKEN", raising=False)
    with pytest.raises(SecretError, match="TRIAJE_TEST_NO_SUCH_TOKEN is not set") as raised:
        poller.poll_once(env)
    assert not isinstance(raised.value, TokenCommandError)
