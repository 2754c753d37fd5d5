"""Is this mail like anything the model was trained on? Two signs that it is not.

A linear model is confident far from its data: a mail written in a way no training row
was (stop words stripped, another trade's jargon) still gets a large score for some
class after the softmax. Such mail goes to a person with the reason "unfamiliar" when

- the share of its words the vocabulary knows is low (per mail, every head), or
- every one-vs-rest SVM of a head rejects it: its best score is lower than almost any
  training mail's (per head, with 3+ classes), i.e. it is far from every class.

Each cut is the value only the least familiar 1 % of training mail falls under, measured
out of fold: each fold's mail against the vocabulary and SVMs of the other folds.
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer

from classifier.features import TextFieldVectorizer

QUANTILE = 0.01
MIN_WORDS = 3  # fewer words say too little to judge; such mail is never called unfamiliar


def field_texts(step: ColumnTransformer, fields: dict[str, list[str]]
                ) -> list[tuple[object, list[str]]]:
    """Each transformer of the fitted step with the text of its columns, row by row."""
    out = []
    for name, transformer, columns in step.transformers_:
        if name == "remainder" and transformer == "drop":
            continue
        out.append((transformer, [" ".join(p) for p in zip(*(fields[c] for c in columns),
                                                            strict=True)]))
    return out


def word_coverage(step: ColumnTransformer, fields: dict[str, list[str]]) -> np.ndarray:
    """Share of each row's words known to the step's vocabularies; NaN under MIN_WORDS."""
    rows = len(next(iter(fields.values())))
    known, total = np.zeros(rows), np.zeros(rows)
    for transformer, texts in field_texts(step, fields):
        if isinstance(transformer, TextFieldVectorizer):
            k, t = transformer.word_counts(texts)
            known, total = known + k, total + t
    return share_known(known, total)


def share_known(known: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Known words over all words; NaN for rows under MIN_WORDS words."""
    return np.where(total >= MIN_WORDS, known / np.maximum(total, 1.0), np.nan)


def choose_cut(coverage: np.ndarray) -> float | None:
    """The QUANTILE of out-of-fold coverage; None when no row had enough words."""
    measured = coverage[~np.isnan(coverage)]
    return float(np.quantile(measured, QUANTILE)) if measured.size else None


def choose_score_cut(top_scores: np.ndarray, classes: int) -> float | None:
    """The QUANTILE of out-of-fold best scores; None for two classes, where the one
    score is a side of one boundary, not a distance from each class."""
    finite = top_scores[np.isfinite(top_scores)]
    if classes < 3 or not finite.size:
        return None
    return float(np.quantile(finite, QUANTILE))


def far_from_every_class(scores: np.ndarray | None, cut: float | None) -> np.ndarray | bool:
    if scores is None or cut is None:
        return False
    return scores.max(axis=1) < cut


def unfamiliar(coverage: np.ndarray, cut: float | None) -> np.ndarray:
    if cut is None:
        return np.zeros(coverage.shape, dtype=bool)
    return ~np.isnan(coverage) & (coverage < cut)
