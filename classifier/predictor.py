"""A loaded model: batch prediction of every head with confidence and review flag."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from classifier.thresholds import needs_review


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    needs_review: bool


class TriageModel:
    """The heads of one trained model; build it with `classifier.artefact.load_model`."""

    def __init__(self, version: str, pipelines: dict[str, Pipeline],
                 thresholds: dict[str, float | None], manifest: dict | None = None) -> None:
        self.version = version
        self.heads: tuple[str, ...] = tuple(pipelines)
        self.thresholds = dict(thresholds)
        self.manifest = manifest or {}
        self._pipelines = pipelines

    def predict(self, subjects: Sequence[str], bodies: Sequence[str]) -> list[dict[str, Prediction]]:
        """One dict per message; the shared text features are computed once per batch."""
        if len(subjects) != len(bodies):
            raise ValueError(f"{len(subjects)} subjects but {len(bodies)} bodies")
        if not len(subjects):
            return []
        frame = pd.DataFrame({"subject": [s or "" for s in subjects],
                              "body": [b or "" for b in bodies]})
        per_head = self._predict_all(frame)
        return [{head: per_head[head][i] for head in self.heads} for i in range(len(frame))]

    def labels(self, head: str) -> tuple[str, ...]:
        return tuple(str(c) for c in self._pipelines[head][-1].classes_)

    def _predict_all(self, frame: pd.DataFrame) -> dict[str, list[Prediction]]:
        features: dict[int, object] = {}
        out = {}
        for head, pipeline in self._pipelines.items():
            step = pipeline[0]
            if id(step) not in features:
                features[id(step)] = step.transform(frame)
            out[head] = self._decide(head, pipeline[-1], features[id(step)])
        return out

    def _decide(self, head: str, classifier, X) -> list[Prediction]:
        proba = classifier.predict_proba(X)
        best = proba.argmax(axis=1)
        confidence = proba[np.arange(len(best)), best]
        review = needs_review(confidence, self.thresholds.get(head))
        labels = classifier.classes_
        return [Prediction(str(labels[b]), float(c), bool(r))
                for b, c, r in zip(best, confidence, review, strict=True)]
