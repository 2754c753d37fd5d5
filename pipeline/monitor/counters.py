"""The daemon's Prometheus metrics, in a registry of their own (every name starts with
`triaje_`; no default process collectors).

The poller, runner and sender call the small functions below where something happens.
This module imports nothing of ours, so any module may report to it without a cycle.
Counters live in the process: a restart starts them at zero, as Prometheus expects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
OUTCOMES = ("processed", "quarantined", "automatic", "duplicate")

messages = Counter("triaje_messages", "Messages handled, by mailbox and outcome "
                   "(processed, quarantined, automatic, duplicate)", ["mailbox", "outcome"],
                   registry=REGISTRY)
outbox_sent = Counter("triaje_outbox_sent", "Mails the SMTP server accepted (or written as "
                      ".eml), by kind", ["kind"], registry=REGISTRY)
ack_latency = Histogram("triaje_ack_latency_seconds", "From a message's arrival to the "
                        "server's 250 for its acknowledgement", registry=REGISTRY,
                        buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600))
poll_last_success = Gauge("triaje_poll_last_success_timestamp_seconds", "Unix time of the "
                          "mailbox's last successful poll", ["mailbox"], registry=REGISTRY)
poll_errors = Counter("triaje_poll_errors", "Failed polls, by mailbox and kind "
                      "(connection, token, database)", ["mailbox", "kind"], registry=REGISTRY)
predictions = Counter("triaje_predictions", "Predictions made, by head and whether they "
                      "need review", ["head", "needs_review"], registry=REGISTRY)

_lock = threading.Lock()
_last_success: dict[str, float] = {}


def polled(mailbox: str) -> None:
    now = time.time()
    with _lock:
        _last_success[mailbox] = now
    poll_last_success.labels(mailbox).set(now)


def last_success(mailbox: str) -> float | None:
    with _lock:
        return _last_success.get(mailbox)


def poll_failed(mailbox: str, kind: str) -> None:
    poll_errors.labels(mailbox, kind).inc()


def duplicates(mailbox: str, count: int) -> None:
    if count:
        messages.labels(mailbox, "duplicate").inc(count)


def batch_done(done: Iterable[Any], quarantined: Iterable[Any]) -> None:
    """After a batch committed: each message once (automatic mail is not 'processed'),
    and the predictions it stored."""
    for work in done:
        automatic = bool(getattr(work.verdict, "automatic", False))
        messages.labels(work.mailbox, "automatic" if automatic else "processed").inc()
        for head, prediction in (work.predictions or {}).items():
            predictions.labels(head, str(bool(prediction.needs_review)).lower()).inc()
    for work in quarantined:
        messages.labels(work.mailbox, "quarantined").inc()


def sent(kind: str, latency: float | None = None) -> None:
    outbox_sent.labels(kind).inc()
    if latency is not None and latency >= 0:
        ack_latency.observe(latency)
