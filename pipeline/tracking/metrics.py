"""Misclassification metrics: the ITIL "number and percentage of incorrect classification".

One row per routed prediction (a new ticket's message and head, the prediction that routed
it), with the latest human label as the truth. A prediction is misclassified when a human
label exists and differs. Rates are given two ways: over all predictions (what the
corrections show; an unchecked prediction counts as right) and, for confident
predictions, as estimated from the audit sample with a Wilson interval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Engine, and_, func, select

from pipeline.schema import audit_sample, correction_mails, inbound, predictions, review_log
from pipeline.tracking import auditsample
from pipeline.tracking import labels as labelmod

MAX_PAIRS = 10
EXAMPLES = 3
CURVE_POINTS = np.round(np.linspace(0.0, 0.95, 20), 2)
COLUMNS = ["inbound_id", "head", "predicted", "confidence", "needs_review", "model_version",
           "received_at", "mailbox", "subject", "truth", "truth_source", "audited", "reviewed"]


def load_frame(engine: Engine, since: datetime | None = None) -> pd.DataFrame:
    """Every routed prediction with its truth, audit draw and review state. Built column by
    column from plain tuples: a dict per row took most of the time on a large desk."""
    with engine.connect() as conn:
        result = conn.execute(_prediction_query(since))
        names, rows = list(result.keys()), result.all()
        truth = labelmod.latest(conn)
        reviewed = {(r.inbound_id, r.head) for r in conn.execute(
            select(review_log.c.inbound_id, review_log.c.head)
            .where(review_log.c.decision.in_(("accept", "correct"))))}
    columns = {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)} \
        if rows else {name: [] for name in names}
    keys = list(zip(columns["inbound_id"], columns["head"], strict=True))
    found = [truth.get(key) for key in keys]
    columns["truth"] = [label["label"] if label else None for label in found]
    columns["truth_source"] = [label["source"] if label else None for label in found]
    columns["audited"] = [bool(v) for v in columns["audited"]]
    columns["needs_review"] = [bool(v) for v in columns["needs_review"]]
    columns["reviewed"] = [key in reviewed for key in keys]
    frame = pd.DataFrame({name: columns[name] for name in COLUMNS}, columns=COLUMNS)
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True)
    return frame


def _prediction_query(since: datetime | None):
    first = select(func.min(predictions.c.id)).group_by(predictions.c.inbound_id,
                                                        predictions.c.head)
    query = (select(predictions.c.inbound_id, predictions.c.head,
                    predictions.c.label.label("predicted"), predictions.c.confidence,
                    predictions.c.needs_review, predictions.c.model_version,
                    inbound.c.received_at, inbound.c.mailbox, inbound.c.subject,
                    func.coalesce(audit_sample.c.drawn, False).label("audited"))
             .join(inbound, inbound.c.id == predictions.c.inbound_id)
             .outerjoin(audit_sample, audit_sample.c.inbound_id == predictions.c.inbound_id)
             .where(predictions.c.id.in_(first), inbound.c.state == "processed",
                    inbound.c.is_followup.is_(False))
             .order_by(predictions.c.inbound_id, predictions.c.head))
    return query.where(inbound.c.received_at >= since) if since is not None else query


def compute(frame: pd.DataFrame, timezone: str = "UTC", engine: Engine | None = None) -> dict:
    """All figures of the report as plain JSON-ready data."""
    frame = with_outcome(frame, timezone)
    present = set(frame["head"].unique())
    heads = [h for h in labelmod.HEADS if h in present] + sorted(present - set(labelmod.HEADS))
    return {
        "messages": _messages(frame),
        "heads": {head: head_metrics(frame[frame["head"] == head]) for head in heads},
        "corrections": _corrections(frame, engine),
    }


def with_outcome(frame: pd.DataFrame, timezone: str) -> pd.DataFrame:
    frame = frame.copy()
    frame["labelled"] = frame["truth"].notna()
    frame["wrong"] = frame["labelled"] & (frame["truth"] != frame["predicted"])
    local = frame["received_at"].dt.tz_convert(ZoneInfo(timezone)) if len(frame) else \
        frame["received_at"]
    iso = local.dt.isocalendar() if len(frame) else None
    frame["week"] = (iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)) \
        if iso is not None else []
    return frame


def _messages(frame: pd.DataFrame) -> dict[str, Any]:
    per_message = frame.groupby("inbound_id")["needs_review"].any()
    total = len(per_message)
    auto = int((~per_message).sum())
    return {"total": total, "auto_routed": auto, "to_triage": total - auto,
            "coverage": _share(auto, total)}


def head_metrics(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        **_counts(frame),
        "by_class": by_class(frame),
        "by_week": _grouped(frame, "week"),
        "by_model": _grouped(frame, "model_version"),
        "by_mailbox": _grouped(frame, "mailbox"),
        "confusion": confusion(frame),
        "confused_pairs": confused_pairs(frame),
        "threshold": threshold_point(frame),
        "curve": coverage_curve(frame),
        "audit": audit_estimate(frame),
    }


def _counts(frame: pd.DataFrame) -> dict[str, Any]:
    n, labelled, wrong = len(frame), int(frame["labelled"].sum()), int(frame["wrong"].sum())
    return {"predictions": n, "labelled": labelled, "misclassified": wrong,
            "rate": _share(wrong, n), "rate_of_labelled": _share(wrong, labelled)}


def _grouped(frame: pd.DataFrame, column: str) -> list[dict[str, Any]]:
    return [{column if column != "model_version" else "version": str(key), **_counts(part)}
            for key, part in frame.groupby(column, sort=True)]


def by_class(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per class: how often a query of that kind (the truth) was misclassified, and the
    precision and recall of the class over checked predictions."""
    checked = frame[frame["labelled"]]
    classes = sorted(set(checked["truth"]) | set(frame["predicted"]))
    rows = []
    for label in classes:
        true_c, pred_c = checked["truth"] == label, checked["predicted"] == label
        hits = int((true_c & pred_c).sum())
        rows.append({"label": label, "predicted": int((frame["predicted"] == label).sum()),
                     "labelled": int(true_c.sum()), "misclassified": int((true_c & ~pred_c).sum()),
                     "rate": _share(int((true_c & ~pred_c).sum()), int(true_c.sum())),
                     "precision": _share(hits, int(pred_c.sum())),
                     "recall": _share(hits, int(true_c.sum()))})
    return rows


def confusion(frame: pd.DataFrame) -> dict[str, Any]:
    """Rows are the human labels, columns the predictions, over checked predictions."""
    checked = frame[frame["labelled"]]
    classes = sorted(set(checked["truth"]) | set(checked["predicted"]))
    index = {label: i for i, label in enumerate(classes)}
    matrix = [[0] * len(classes) for _ in classes]
    for truth, predicted in zip(checked["truth"], checked["predicted"], strict=True):
        matrix[index[truth]][index[predicted]] += 1
    return {"labels": classes, "matrix": matrix}


def confused_pairs(frame: pd.DataFrame, limit: int = MAX_PAIRS) -> list[dict[str, Any]]:
    wrong = frame[frame["wrong"]]
    pairs = []
    for (truth, predicted), part in wrong.groupby(["truth", "predicted"]):
        examples = [s or "" for s in part.sort_values("received_at")["subject"].head(EXAMPLES)]
        pairs.append({"truth": truth, "predicted": predicted, "count": len(part),
                      "examples": examples})
    return sorted(pairs, key=lambda p: (-p["count"], p["truth"], p["predicted"]))[:limit]


def threshold_point(frame: pd.DataFrame) -> dict[str, Any]:
    """Coverage (share routed without review) and precision of those, where checked."""
    auto = frame[~frame["needs_review"].astype(bool)]
    checked = auto[auto["labelled"]]
    return {"coverage": _share(len(auto), len(frame)), "auto_routed": len(auto),
            "checked": len(checked),
            "precision": _share(int((~checked["wrong"]).sum()), len(checked))}


def coverage_curve(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """What a confidence threshold t would give: coverage, and precision where checked."""
    points = []
    for t in CURVE_POINTS:
        above = frame[frame["confidence"] >= t]
        checked = above[above["labelled"]]
        points.append({"threshold": float(t), "coverage": _share(len(above), len(frame)),
                       "precision": _share(int((~checked["wrong"]).sum()), len(checked)),
                       "checked": len(checked)})
    return points


def audit_estimate(frame: pd.DataFrame) -> dict[str, Any]:
    """The error rate of confident predictions, from the audited ones a person reviewed."""
    confident = frame[~frame["needs_review"].astype(bool)]
    sample = confident[confident["audited"]]
    reviewed = sample[sample["reviewed"] & sample["labelled"]]
    errors, n = int(reviewed["wrong"].sum()), len(reviewed)
    interval = auditsample.wilson(errors, n)
    return {"confident": len(confident), "sampled": len(sample), "reviewed": n,
            "misclassified": errors, "rate": interval.rate, "ci_low": interval.low,
            "ci_high": interval.high, "confidence_level": 0.95,
            "seen_in_corrections": _share(int(confident["wrong"].sum()), len(confident))}


def _corrections(frame: pd.DataFrame, engine: Engine | None) -> dict[str, Any]:
    sources = frame[frame["labelled"]]["truth_source"].value_counts()
    result: dict[str, Any] = {"by_source": {s: int(sources.get(s, 0)) for s in labelmod.SOURCES}}
    if engine is not None:
        with engine.connect() as conn:
            result["mails"] = conn.execute(select(func.count()).select_from(correction_mails)
                                           ).scalar_one()
            result["mails_not_understood"] = conn.execute(
                select(func.count()).select_from(correction_mails)
                .where(and_(correction_mails.c.unknown != ""))).scalar_one()
    return result


def _share(part: int, whole: int) -> float | None:
    return None if not whole else part / whole


def collect(engine: Engine, timezone: str = "UTC", since: datetime | None = None) -> dict:
    """Load and compute in one call: what `triaje report --json` prints."""
    return compute(load_frame(engine, since), timezone, engine)
