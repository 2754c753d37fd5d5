"""Confidence thresholds: the lowest confidence at which predictions are still precise enough.

Chosen on out-of-fold predictions, so the threshold reflects mail the model has not seen.
Above it a prediction is trusted (routed automatically); below it, a person reviews.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Threshold:
    """`value` None means no confidence reached the target: every prediction is reviewed."""

    value: float | None
    coverage: float
    precision: float | None


def choose(correct: np.ndarray, confidence: np.ndarray, target: float) -> Threshold:
    """Maximise coverage subject to precision >= target among predictions kept."""
    correct = np.asarray(correct, dtype=float)
    confidence = np.asarray(confidence, dtype=float)
    n = len(confidence)
    if n == 0:
        return Threshold(None, 0.0, None)
    order = np.argsort(-confidence, kind="stable")
    ranked = confidence[order]
    precision = np.cumsum(correct[order]) / np.arange(1, n + 1)
    cut_ok = np.r_[ranked[:-1] > ranked[1:], True]  # a cut may not split equal confidences
    keep = np.flatnonzero((precision >= target) & cut_ok)
    if keep.size == 0:
        return Threshold(None, 0.0, None)
    last = keep[-1]
    return Threshold(float(ranked[last]), (last + 1) / n, float(precision[last]))


def needs_review(confidence: np.ndarray, threshold: float | None) -> np.ndarray:
    confidence = np.asarray(confidence, dtype=float)
    if threshold is None:
        return np.ones(confidence.shape, dtype=bool)
    return confidence < threshold
