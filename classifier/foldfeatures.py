"""Each fold's TF-IDF without tokenising every mail once per fold: count once, slice per fold.

Honest thresholds need text features that never saw the rows they score, so each
cross-validation fold needs its own vocabulary and idf. Tokenising 20,000 mails for every
fold was a third of training. Instead every row is counted once over every term; a fold's
features are then exactly what `TextFieldVectorizer` fitted on that fold's rows gives:
its vocabulary is the terms of those rows inside the document-frequency limits (sorted, as
scikit-learn sorts them), its idf comes from those rows alone, then sublinear tf and the
l2 norm. `tests/test_classifier_foldfeatures.py` checks the two are equal.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize

from classifier.features import TextFieldVectorizer, _cell_text, normalize_text


class _CountedField:
    """One TextFieldVectorizer's rows as term counts over every term of every row."""

    def __init__(self, vectorizer: TextFieldVectorizer, texts: list[str]) -> None:
        docs = [normalize_text(t) for t in texts]
        self.vectorizer = vectorizer
        self.empty = np.array([0.0 if d.strip() else 1.0 for d in docs])
        self.parts: list[tuple | None] = []
        for analyzer, ngrams, weight in (("word", vectorizer.word_ngrams, 1.0),
                                         ("char_wb", vectorizer.char_ngrams,
                                          vectorizer.char_weight)):
            self.parts.append(None if ngrams is None else _count(docs, analyzer, ngrams, weight,
                                                                  vectorizer.limits(analyzer)))

    def tfidf(self, fit_rows: np.ndarray, rows: np.ndarray) -> sp.csr_matrix:
        blocks = [sp.csr_matrix(self.empty[rows].reshape(-1, 1))]
        for part in self.parts:
            block = None if part is None else self._block(part, fit_rows, rows)
            if block is not None:
                blocks.append(block)
        return sp.hstack(blocks, format="csr", dtype=np.float64)

    def word_counts(self, fit_rows: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Known and all words of `rows`, as `TextFieldVectorizer.word_counts` after a fit
        on `fit_rows` counts them."""
        word = self.parts[0]
        if word is None or (keep := self._keep(word, fit_rows)) is None:
            return np.zeros(len(rows)), np.zeros(len(rows))
        counts, unigram, _, _ = word
        X = counts[rows]
        known = np.asarray(X[:, np.flatnonzero(unigram & keep)].sum(axis=1)).ravel()
        return known, np.asarray(X[:, np.flatnonzero(unigram)].sum(axis=1)).ravel()

    @staticmethod
    def _keep(part, fit_rows: np.ndarray) -> np.ndarray | None:
        """The fold's vocabulary as a column mask: `_fit_one`'s limits, relaxed as it does."""
        counts, _, _, limits = part
        df = np.bincount(counts[fit_rows].indices, minlength=counts.shape[1])
        n = len(fit_rows)
        for min_df, max_df in (limits, (1, 1.0)):
            low = min_df if isinstance(min_df, Integral) else min_df * n
            high = max_df if isinstance(max_df, Integral) else max_df * n
            keep = (df > 0) & (df >= low) & (df <= high)
            if keep.any():
                return keep
        return None

    def _block(self, part, fit_rows: np.ndarray, rows: np.ndarray) -> sp.csr_matrix | None:
        counts, _, weight, _ = part
        keep = self._keep(part, fit_rows)
        if keep is None:
            return None
        columns = np.flatnonzero(keep)
        df = np.bincount(counts[fit_rows].indices, minlength=counts.shape[1])[columns]
        idf = np.log((1.0 + len(fit_rows)) / (1.0 + df)) + 1.0
        X = counts[rows][:, columns].astype(np.float64)
        np.log(X.data, out=X.data)
        X.data += 1.0
        X.data *= idf[X.indices]
        return normalize(X, norm="l2", copy=False) * weight


def _count(docs: list[str], analyzer: str, ngrams, weight: float, limits: tuple):
    """(counts, unigram column mask or None, block weight, (min_df, max_df)), or None."""
    counter = CountVectorizer(analyzer=analyzer, ngram_range=tuple(ngrams), lowercase=False)
    try:
        counts = counter.fit_transform(docs).tocsr()
    except ValueError:  # no term in any row
        return None
    counts.sort_indices()
    terms = counter.get_feature_names_out()
    unigram = np.array([" " not in t for t in terms]) if analyzer == "word" else None
    return counts, unigram, weight, limits


class FoldFeatures:
    """The text-feature step of `model.build_features`, fitted on any subset of rows."""

    def __init__(self, step: ColumnTransformer, texts: pd.DataFrame) -> None:
        self.fields = []
        for _, vectorizer, columns in step.transformers:
            if not isinstance(vectorizer, TextFieldVectorizer):
                raise TypeError(f"fold features need TextFieldVectorizer, not {vectorizer!r}")
            joined = [" ".join(_cell_text(v) for v in row) for row in texts[columns].to_numpy()]
            self.fields.append(_CountedField(vectorizer, joined))

    def tfidf(self, fit_rows: np.ndarray, rows: np.ndarray) -> sp.csr_matrix:
        """Features of `rows` from a step fitted on `fit_rows` alone."""
        return sp.hstack([f.tfidf(fit_rows, rows) for f in self.fields], format="csr")

    def word_counts(self, fit_rows: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        known, total = np.zeros(len(rows)), np.zeros(len(rows))
        for f in self.fields:
            k, t = f.word_counts(fit_rows, rows)
            known, total = known + k, total + t
        return known, total
