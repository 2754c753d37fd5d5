"""Figures read from the database for /metrics: the outbox by state, the model in service
and the misclassification ratio of the last 7 days.

They are refreshed by a thread every REFRESH seconds, never while Prometheus waits: a scrape
only serialises numbers already in memory, however large the database grows.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, and_, case, func, select

from classifier import modelsdir
from pipeline.db import utcnow
from pipeline.schema import inbound, labels, outbox, predictions

log = logging.getLogger("triaje.metrics")
REFRESH = 15.0
WINDOW = timedelta(days=7)
STATES = ("queued", "sent", "failed")


def outbox_states(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        found = dict(conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state)).all())
    return {state: int(found.get(state, 0)) for state in (*STATES, *found)}


def misclassification(engine: Engine, since: Any) -> dict[str, float]:
    """Per head, of the routing predictions of messages received since `since`: the share a
    person labelled differently (the report's 'rate', over a moving week)."""
    p2, l2 = predictions.alias("p2"), labels.alias("l2")
    first = select(func.min(p2.c.id)).where(
        p2.c.inbound_id == predictions.c.inbound_id, p2.c.head == predictions.c.head).scalar_subquery()
    newest = select(func.max(l2.c.id)).where(
        l2.c.inbound_id == predictions.c.inbound_id, l2.c.head == predictions.c.head).scalar_subquery()
    wrong = case((and_(labels.c.label.is_not(None), labels.c.label != predictions.c.label), 1), else_=0)
    query = (select(predictions.c.head, func.count(), func.sum(wrong))
             .join(inbound, inbound.c.id == predictions.c.inbound_id)
             .outerjoin(labels, labels.c.id == newest)
             .where(inbound.c.received_at >= since, inbound.c.state == "processed",
                    inbound.c.is_followup.is_(False), predictions.c.id == first)
             .group_by(predictions.c.head))
    with engine.connect() as conn:
        return {head: (int(bad or 0) / total if total else 0.0)
                for head, total, bad in conn.execute(query)}


class DatabaseCollector(Collector):
    def __init__(self, engine: Engine, models_dir: str) -> None:
        self.engine, self.models_dir = engine, models_dir
        self.values: dict[str, Any] = {"outbox": {}, "model": None, "ratio": {}}
        self.stop = threading.Event()

    def refresh(self) -> None:
        try:
            self.values = {"outbox": outbox_states(self.engine),
                           "model": modelsdir.current_version(self.models_dir),
                           "ratio": misclassification(self.engine, utcnow() - WINDOW)}
        except Exception as exc:  # the database is down: /healthz says so; keep the last figures
            log.debug("metrics refresh failed: %s", exc)

    def run(self) -> None:
        while not self.stop.wait(REFRESH):
            self.refresh()

    def collect(self):
        values = self.values
        mails = GaugeMetricFamily("triaje_outbox_mails", "Outgoing mails by state", labels=["state"])
        for state, count in values["outbox"].items():
            mails.add_metric([state], count)
        model = GaugeMetricFamily("triaje_model_info", "The model version in service (value 1)",
                                  labels=["version"])
        if values["model"]:
            model.add_metric([values["model"]], 1)
        ratio = GaugeMetricFamily("triaje_misclassification_ratio", "Share of the last 7 days' "
                                  "predictions a person corrected, by head", labels=["head"])
        for head, value in values["ratio"].items():
            ratio.add_metric([head], value)
        return [mails, model, ratio]

    def describe(self):
        return []
