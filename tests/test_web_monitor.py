"""The daemon's /healthz and /metrics on a real Dovecot and a real SMTP receiver: healthy
while mail is polled, 503 with the reason while Dovecot is stopped, healthy again after."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from chaos.fixtures import own_dovecot  # noqa: F401 - a fixture
from chaos.harness import hard_stop
from conftest import DeskBox, make_mail
from dovecot import free_port
from helpers import build_env
from smtp_receiver import Receiver
from stubmodel import KeywordModel

from pipeline.daemon import Daemon

pytestmark = pytest.mark.dovecot


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


def metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_healthz_follows_dovecot_and_metrics_count_the_mail(own_dovecot, tmp_path,  # noqa: F811
                                                           monkeypatch):
    receiver = Receiver().start()
    box = DeskBox(own_dovecot, "monitored")
    port = free_port()
    cfg = {**box.config(tmp_path, monkeypatch, poll_interval=1),
           "smtp": {"url": receiver.url, "from": "Mesa <desk@example.org>"},
           "routing": {"default": "n1@example.org", "triage": "triage@example.org"},
           "metrics": {"listen": f"127.0.0.1:{port}"}}
    env = build_env(cfg)
    env.model = KeywordModel()
    box.append(make_mail(subject="La impresora no imprime", sender="ana@example.com"))
    box.append(make_mail(subject="Out of office", sender="bob@example.com", Auto_Submitted="auto-replied"))
    base = f"http://127.0.0.1:{port}"
    daemon = Daemon(env)
    daemon.start()
    try:
        _, body = wait_for(lambda: (s := get(f"{base}/healthz"))[0] == 200 and
                           json.loads(s[1])["mailboxes"]["desk"]["last_success"] and s)
        health = json.loads(body)
        assert health["status"] == "ok" and health["database"] == "ok"
        assert set(health["mailboxes"]["desk"]) == {"last_success", "outbox_depth"}
        text = wait_for(lambda: (t := get(f"{base}/metrics")[1]) and
                        'triaje_outbox_sent_total{kind="ack"}' in t and t)
        assert metric(text, 'triaje_messages_total{mailbox="desk",outcome="processed"}') >= 1
        assert metric(text, 'triaje_messages_total{mailbox="desk",outcome="automatic"}') >= 1
        assert metric(text, 'triaje_predictions_total{head="queue",needs_review="false"}') >= 1
        assert metric(text, "triaje_ack_latency_seconds_count") >= 1
        assert metric(text, 'triaje_poll_last_success_timestamp_seconds{mailbox="desk"}') > time.time() - 60
        for name in ("triaje_outbox_mails", "triaje_model_info", "triaje_misclassification_ratio",
                     "triaje_poll_errors_total"):
            assert f"# HELP {name}" in text or f"# HELP {name.removesuffix('_total')}" in text
        names = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP")}
        assert all(name.startswith("triaje_") for name in names)

        assert hard_stop(own_dovecot) >= 1  # the open session dies too, as in a crash
        _, body = wait_for(lambda: (s := get(f"{base}/healthz"))[0] == 503 and s, 30)
        failing = json.loads(body)
        assert failing["status"] == "failing"
        assert any("mailbox desk" in r for r in failing["reasons"]), failing
        errors = get(f"{base}/metrics")[1]
        assert metric(errors, 'triaje_poll_errors_total{kind="connection",mailbox="desk"}') >= 1 or \
            metric(errors, 'triaje_poll_errors_total{mailbox="desk",kind="connection"}') >= 1

        own_dovecot.restart()
        wait_for(lambda: get(f"{base}/healthz")[0] == 200, 60)
    finally:
        daemon.stop()
        receiver.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/healthz", timeout=2)  # the endpoint stops with the daemon
