"""Scoring a trained model on labelled data it may not have seen."""

from __future__ import annotations

from collections import Counter

import numpy as np

from classifier.dataset import Dataset
from classifier.metrics import head_metrics
from classifier.predictor import TriageModel
from pipeline.errors import DataError

BATCH = 2000


def evaluate(model: TriageModel, data: Dataset) -> dict:
    """{"n": rows, "heads": {head: metrics}} for every model head the data labels."""
    heads = [h for h in model.heads if h in data.heads]
    if not heads:
        raise DataError(f"the data labels none of the model's heads ({', '.join(model.heads)})")
    frame = data.frame
    predictions = predict_all(model, list(frame["subject"]), list(frame["body"]))
    result = {}
    for head in heads:
        rows = np.flatnonzero(data.labelled(head).to_numpy())
        chosen = [predictions[i][head] for i in rows]
        truth = frame[head].to_numpy(dtype=object)[rows]
        metrics = head_metrics(truth, [p.label for p in chosen],
                               [p.confidence for p in chosen], model.thresholds.get(head))
        result[head] = {**metrics, **_review_figures(chosen, truth)}
        result[head]["rare_labels"] = model.manifest.get("heads", {}).get(head, {}).get(
            "rare_labels", {})
    return {"n": len(frame), "heads": result}


def _review_figures(chosen: list, truth: np.ndarray) -> dict:
    """Coverage and precision of what goes without review, and why the rest goes to a person.

    `coverage` and `precision_at_threshold` from head_metrics count the threshold alone;
    these count every reason, "unfamiliar" included, which is what the desk experiences.
    """
    kept = np.array([not p.needs_review for p in chosen], dtype=bool)
    hits = np.array([p.label for p in chosen], dtype=object) == truth
    reasons = Counter(p.reason for p in chosen if p.needs_review)
    return {"not_reviewed": round(float(kept.mean()), 4) if len(kept) else 0.0,
            "precision_not_reviewed": round(float(hits[kept].mean()), 4) if kept.any() else None,
            "review_reasons": {str(k): int(v) for k, v in sorted(reasons.items(), key=str)}}


def predict_all(model: TriageModel, subjects: list[str], bodies: list[str]) -> list[dict]:
    """Batched, so memory stays flat on large files."""
    out: list[dict] = []
    for start in range(0, len(subjects), BATCH):
        out += model.predict(subjects[start:start + BATCH], bodies[start:start + BATCH])
    return out
