"""Per-head quality figures, the same for cross-validation, `evaluate` and reports.

Macro-F1 and per-class recall lead, because accuracy hides a missed minority class:
a desk that never spots "critical" can still be 90% accurate.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from classifier.thresholds import needs_review


def head_metrics(y_true, y_pred, confidence, threshold: float | None) -> dict:
    """macro_f1, accuracy, coverage, precision_at_threshold, per_class, confusion."""
    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    labels = sorted(set(y_true) | set(y_pred))
    correct = y_true == y_pred
    kept = ~needs_review(confidence, threshold)
    return {
        "macro_f1": _macro_f1(y_true, y_pred, labels),
        "accuracy": _ratio(correct.sum(), len(correct)),
        "coverage": _ratio(kept.sum(), len(kept)),
        "precision_at_threshold": _ratio(correct[kept].sum(), kept.sum()) if kept.any() else None,
        "per_class": per_class(y_true, y_pred, labels),
        "confusion": confusion(y_true, y_pred, labels),
    }


def per_class(y_true, y_pred, labels: list[str]) -> dict[str, dict]:
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {label: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                    "f1": round(float(f[i]), 4), "support": int(s[i])}
            for i, label in enumerate(labels)}


def confusion(y_true, y_pred, labels: list[str]) -> dict[str, dict[str, int]]:
    """Rows are true labels, columns predicted labels."""
    matrix = confusion_matrix(y_true, y_pred, labels=labels) if labels else np.zeros((0, 0))
    return {t: {p: int(matrix[i, j]) for j, p in enumerate(labels)} for i, t in enumerate(labels)}


def _macro_f1(y_true, y_pred, labels: list[str]) -> float:
    if not labels:
        return 0.0
    _, _, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return round(float(np.mean(f)), 4)


def _ratio(num, den) -> float:
    return round(float(num) / float(den), 4) if den else 0.0
