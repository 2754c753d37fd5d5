"""The report's figures for the web desk, kept in memory and refreshed when the data changes.

Reading every routed prediction is the slow part on a large desk (seconds at 100,000
tickets), so a page never waits for it long: when a new prediction, label, review decision
or audit draw moves one of the figures read first, a thread reads the data again and the
page waits for it at most WAIT seconds. A small desk thus always sees fresh figures; a
large one may see the previous ones for a few seconds, with the time they are from.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from pipeline.db import utcnow
from pipeline.schema import audit_sample, labels, predictions, review_log
from pipeline.tracking import metrics

log = logging.getLogger("triaje.web")
FILTERS = ("week", "mailbox", "model")
KEPT = 32  # filter combinations kept per version of the data
WAIT = 0.15  # seconds a page waits for fresh figures before it shows the previous ones


def data_version(engine: Engine) -> tuple:
    with engine.connect() as conn:
        return tuple(conn.execute(select(
            select(func.max(predictions.c.id)).scalar_subquery(),
            select(func.max(labels.c.id)).scalar_subquery(),
            select(func.max(review_log.c.id)).scalar_subquery(),
            select(func.count()).select_from(audit_sample).scalar_subquery())).one())


def _key(filters: dict[str, str]) -> tuple[str, ...]:
    return tuple(filters.get(f, "") for f in FILTERS)


class ReportCache:
    def __init__(self, wait: float = WAIT) -> None:
        self.wait = wait
        self.lock = threading.Lock()
        self.version: tuple | None = None
        self.frame: pd.DataFrame | None = None
        self.as_of: datetime | None = None
        self.figures: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self.worker: threading.Thread | None = None

    def get(self, engine: Engine, timezone: str, filters: dict[str, str]) -> dict[str, Any]:
        """The figures for `filters`, with `stale` (newer data is being read) and `as_of`."""
        version = data_version(engine)
        with self.lock:
            if version != self.version and self.worker is None:
                self.worker = threading.Thread(target=self._reload, args=(engine, timezone, version),
                                               name="report-reload", daemon=True)
                self.worker.start()
            worker = self.worker
        if worker is not None:
            worker.join(None if self.frame is None else self.wait)
        with self.lock:
            if self.frame is None:
                raise RuntimeError("the report's data could not be read; see the log")
            key = _key(filters)
            if key not in self.figures:
                self.figures[key] = _figures(self.frame, engine, timezone, filters)
                while len(self.figures) > KEPT:
                    self.figures.popitem(last=False)
            return {**self.figures[key], "stale": self.version != version, "as_of": self.as_of}

    def _reload(self, engine: Engine, timezone: str, version: tuple) -> None:
        try:
            frame = metrics.with_outcome(metrics.load_frame(engine), timezone)
            unfiltered = _figures(frame, engine, timezone, {})  # the page most people open
            with self.lock:
                self.version, self.frame, self.as_of = version, frame, utcnow()
                self.figures = OrderedDict({_key({}): unfiltered})
        except Exception:
            log.exception("report: cannot read the data")
        finally:
            with self.lock:
                self.worker = None


def _figures(frame: pd.DataFrame, engine: Engine, timezone: str,
             filters: dict[str, str]) -> dict[str, Any]:
    options = {"week": sorted(set(frame["week"].unique()), reverse=True),
               "mailbox": sorted(set(frame["mailbox"].unique())),
               "model": sorted(set(frame["model_version"].unique()))}
    chosen = frame
    for key, column in (("week", "week"), ("mailbox", "mailbox"), ("model", "model_version")):
        if filters.get(key):
            chosen = chosen[chosen[column] == filters[key]]
    data = metrics.compute(chosen[metrics.COLUMNS], timezone, engine)
    return {"data": data, "options": options}
