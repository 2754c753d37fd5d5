"""Scoring a trained model on labelled data it may not have seen."""

from __future__ import annotations

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
        result[head] = head_metrics(
            frame[head].to_numpy(dtype=object)[rows],
            [p.label for p in chosen], [p.confidence for p in chosen],
            model.thresholds.get(head))
    return {"n": len(frame), "heads": result}


def predict_all(model: TriageModel, subjects: list[str], bodies: list[str]) -> list[dict]:
    """Batched, so memory stays flat on large files."""
    out: list[dict] = []
    for start in range(0, len(subjects), BATCH):
        out += model.predict(subjects[start:start + BATCH], bodies[start:start + BATCH])
    return out
