"""Is this mail like anything the model was trained on? The share of its words it knows.

A linear model is confident far from its data: a mail written in a way no training row
was (stop words stripped, another trade's jargon) still gets a large score for some
class. Such mail goes to a person with the reason "unfamiliar". The cut is the share of
known words that only the least familiar 1 % of training mail falls under, measured
out of fold, each fold's mail against the vocabulary of the other folds.
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
    share = known / np.maximum(total, 1.0)
    return np.where(total >= MIN_WORDS, share, np.nan)


def choose_cut(coverage: np.ndarray) -> float | None:
    """The QUANTILE of out-of-fold coverage; None when no row had enough words."""
    measured = coverage[~np.isnan(coverage)]
    return float(np.quantile(measured, QUANTILE)) if measured.size else None


def unfamiliar(coverage: np.ndarray, cut: float | None) -> np.ndarray:
    if cut is None:
        return np.zeros(coverage.shape, dtype=bool)
    return ~np.isnan(coverage) & (coverage < cut)
