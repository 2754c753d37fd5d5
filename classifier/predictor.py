"""A loaded model: batch prediction of every head with confidence, review flag and reason.

A prediction goes to a person (`needs_review`) for one of four reasons, the first that
applies: the mail is "unfamiliar" (too few of its words were ever seen in training, or it
is far from every class, so no confidence figure can be trusted), "low_confidence" (below
the head's cross-validated threshold), "no_threshold" (no confidence reached the target
precision in training), or "disagreement": the SVM is confident but the head's second
model, different in kind (word counts and complement Naive Bayes), picks another label.
A confident linear model is often confidently wrong on mail written unlike its training
data; two unlike models agreeing there is much rarer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from classifier.familiarity import (
    far_from_every_class,
    field_texts,
    unfamiliar,
    word_coverage,
)
from classifier.features import TextFieldVectorizer
from classifier.model import TemperatureSVC, linear_scores, second_labels
from classifier.thresholds import needs_review

UNFAMILIAR, LOW_CONFIDENCE, NO_THRESHOLD = "unfamiliar", "low_confidence", "no_threshold"
DISAGREEMENT = "disagreement"


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    needs_review: bool
    reason: str | None = None  # why a person must look: UNFAMILIAR, LOW_CONFIDENCE, ...
    # ... NO_THRESHOLD or DISAGREEMENT


class TriageModel:
    """The heads of one trained model; build it with `classifier.artefact.load_model`."""

    def __init__(self, version: str, pipelines: dict[str, Pipeline],
                 thresholds: dict[str, float | None], manifest: dict | None = None,
                 min_word_coverage: float | None = None,
                 second: dict[str, Pipeline] | None = None) -> None:
        self.version = version
        self.heads: tuple[str, ...] = tuple(pipelines)
        self.thresholds = dict(thresholds)
        self.manifest = manifest or {}
        self.min_word_coverage = min_word_coverage
        self._pipelines = pipelines
        self._second = second or {}  # an artefact from before the second model has none

    def predict(self, subjects: Sequence[str], bodies: Sequence[str]) -> list[dict[str, Prediction]]:
        """One dict per message; the shared text features are computed once per batch."""
        if len(subjects) != len(bodies):
            raise ValueError(f"{len(subjects)} subjects but {len(bodies)} bodies")
        if not len(subjects):
            return []
        fields = {"subject": [s or "" for s in subjects], "body": [b or "" for b in bodies]}
        per_head = self._predict_all(fields)
        return [{head: per_head[head][i] for head in self.heads} for i in range(len(subjects))]

    def labels(self, head: str) -> tuple[str, ...]:
        return tuple(str(c) for c in self._pipelines[head][-1].classes_)

    def _predict_all(self, fields: dict[str, list[str]]) -> dict[str, list[Prediction]]:
        features: dict[int, tuple] = {}  # each fitted text step computed once per batch
        out = {}
        for head, pipeline in self._pipelines.items():
            step = pipeline[0]
            if id(step) not in features:
                coverage = word_coverage(step, fields)
                features[id(step)] = (transform_fields(step, fields),
                                      unfamiliar(coverage, self.min_word_coverage))
            out[head] = self._decide(head, pipeline[-1], *features[id(step)],
                                     self._second_opinion(head, fields, features))
        return out

    def _second_opinion(self, head: str, fields: dict[str, list[str]],
                        features: dict[int, tuple]) -> np.ndarray | None:
        """The second model's label per mail, or None when this artefact has none."""
        if head not in self._second:
            return None
        step, classifier = self._second[head][0], self._second[head][-1]
        if id(step) not in features:
            features[id(step)] = (transform_fields(step, fields),)
        return second_labels(classifier, features[id(step)][0])

    def _decide(self, head: str, classifier, X, strange: np.ndarray,
                second: np.ndarray | None) -> list[Prediction]:
        scores = decision_scores(classifier, X)
        proba = predict_proba(classifier, X, scores)
        cut = self.manifest.get("heads", {}).get(head, {}).get("min_top_score")
        strange = strange | far_from_every_class(scores, cut)
        best = proba.argmax(axis=1)
        confidence = proba[np.arange(len(best)), best]
        labels = classifier.classes_
        disputed = np.zeros(len(best), dtype=bool) if second is None else labels[best] != second
        threshold = self.thresholds.get(head)
        low = needs_review(confidence, threshold)
        unsure = NO_THRESHOLD if threshold is None else LOW_CONFIDENCE
        reasons = np.where(strange, UNFAMILIAR, np.where(
            low, unsure, np.where(disputed, DISAGREEMENT, "")))
        return [Prediction(str(labels[b]), float(c), bool(r), r or None)
                for b, c, r in zip(best, confidence, reasons.tolist(), strict=True)]


def transform_fields(step: ColumnTransformer, fields: dict[str, list[str]]):
    """The ColumnTransformer's output, computed straight from our fitted vectorizers.

    scikit-learn validates its input on every call, which costs more than the arithmetic
    for one short message; the result is the same (tests compare it with `transform`).
    """
    blocks = []
    for transformer, texts in field_texts(step, fields):
        if not isinstance(transformer, TextFieldVectorizer):
            return step.transform(_frame(fields))
        blocks.append(transformer.transform_texts(texts))
    return sp.hstack(blocks, format="csr")


def decision_scores(classifier, X) -> np.ndarray | None:
    """TemperatureSVC.decision_function as plain algebra; None for other classifiers."""
    if not isinstance(classifier, TemperatureSVC):
        return None
    return linear_scores(classifier.svm_, X)  # what decision_function does, minus validation


def predict_proba(classifier, X, scores: np.ndarray | None = None) -> np.ndarray:
    """Linear SVM with temperature (or the older stacked calibrator) as plain algebra."""
    if isinstance(classifier, TemperatureSVC):
        if scores is None:
            scores = decision_scores(classifier, X)
        return softmax(scores / classifier.temperature, axis=1)
    if not _is_linear_stack(classifier):
        return classifier.predict_proba(X)
    svm, calibrator = classifier.estimators_[0], classifier.final_estimator_
    scores = np.asarray(X @ svm.coef_.T) + svm.intercept_
    logits = scores @ calibrator.coef_.T + calibrator.intercept_
    if logits.shape[1] == 1:
        positive = expit(logits[:, 0])
        return np.column_stack([1.0 - positive, positive])
    return softmax(logits, axis=1)


def _is_linear_stack(classifier) -> bool:
    return (isinstance(classifier, StackingClassifier) and not classifier.passthrough
            and len(classifier.estimators_) == 1
            and isinstance(classifier.estimators_[0], LinearSVC)
            and classifier.stack_method_ == ["decision_function"]
            and isinstance(classifier.final_estimator_, LogisticRegression))


def _frame(fields: dict[str, list[str]]):
    import pandas as pd  # deferred: pandas loads only on the plain Pipeline path

    return pd.DataFrame(fields)
