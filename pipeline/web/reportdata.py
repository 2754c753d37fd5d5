"""The report's figures for the web desk, kept in memory until the data changes.

Loading every routed prediction is the slow part on a large desk, so the frame is kept
until a new prediction, label, review decision or audit draw moves one of the figures
read first; the figures per filter likewise. A reviewer's correction shows on the next
page load, and a page nobody changed is served from memory."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from pipeline.schema import audit_sample, labels, predictions, review_log
from pipeline.tracking import metrics

FILTERS = ("week", "mailbox", "model")
KEPT = 32


class ReportCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version: tuple | None = None
        self.frame: pd.DataFrame | None = None
        self.figures: OrderedDict[tuple, dict[str, Any]] = OrderedDict()

    def get(self, engine: Engine, timezone: str, filters: dict[str, str]) -> dict[str, Any]:
        version = data_version(engine)
        key = tuple(filters.get(f, "") for f in FILTERS)
        with self.lock:
            if version != self.version:
                self.version, self.figures = version, OrderedDict()
                self.frame = metrics.with_outcome(metrics.load_frame(engine), timezone)
            if key not in self.figures:
                self.figures[key] = _figures(self.frame, engine, timezone, filters)
                while len(self.figures) > KEPT:
                    self.figures.popitem(last=False)
            return self.figures[key]


def data_version(engine: Engine) -> tuple:
    with engine.connect() as conn:
        return tuple(conn.execute(select(
            select(func.max(predictions.c.id)).scalar_subquery(),
            select(func.max(labels.c.id)).scalar_subquery(),
            select(func.max(review_log.c.id)).scalar_subquery(),
            select(func.count()).select_from(audit_sample).scalar_subquery())).one())


def _figures(frame: pd.DataFrame, engine: Engine, timezone: str,
             filters: dict[str, str]) -> dict[str, Any]:
    options = {"week": sorted(set(frame["week"]), reverse=True),
               "mailbox": sorted(set(frame["mailbox"])),
               "model": sorted(set(frame["model_version"]))}
    chosen = frame
    for key, column in (("week", "week"), ("mailbox", "mailbox"), ("model", "model_version")):
        if filters.get(key):
            chosen = chosen[chosen[column] == filters[key]]
    data = metrics.compute(chosen[metrics.COLUMNS], timezone, engine)
    return {"data": data, "options": options}
