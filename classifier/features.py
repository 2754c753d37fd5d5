"""Text features: word and character n-gram TF-IDF of one text field.

Service-desk mail is short, misspelt and bilingual: "contraseña", "contrasena" and
"contraseñas" must look alike, so text is lower-cased and stripped of accents, and
character n-grams inside word boundaries (`char_wb`) carry morphology and typos that
word n-grams miss. Numbers, URLs and addresses are masked because ticket numbers and
hostnames name one case, not a kind of case.
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import (
    CountVectorizer,
    TfidfVectorizer,
    strip_accents_unicode,
)
from sklearn.utils.validation import check_is_fitted, validate_data

_URL = re.compile(r"(?:https?://|www\.)\S+")
_EMAIL = re.compile(r"\S+@\S+\.\w+")
_DIGITS = re.compile(r"\d+")


def normalize_text(text: str) -> str:
    """One spelling per word: lower case, no accents, masked URLs, addresses and numbers."""
    text = strip_accents_unicode(text.lower())
    text = _URL.sub(" urlx ", text)
    text = _EMAIL.sub(" emailx ", text)
    return _DIGITS.sub("0", text)


def _cell_text(value: object) -> str:
    """A table cell as text; a missing cell (None, NaN) is empty text, not the word "nan"."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def row_documents(X: np.ndarray) -> list[str]:
    """Each row's cells joined into one normalized document."""
    return [normalize_text(" ".join(_cell_text(v) for v in row)) for row in X]


def _tfidf(vectorizer: TfidfVectorizer, docs: list[str]) -> sp.csr_matrix:
    """What `vectorizer.transform` returns (sublinear tf, idf, l2 norm), minus validation."""
    X = CountVectorizer.transform(vectorizer, docs).astype(np.float64)
    if vectorizer.sublinear_tf:
        np.log(X.data, out=X.data)
        X.data += 1.0
    X.data *= vectorizer.idf_[X.indices]
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    norms = np.sqrt(np.bincount(rows, weights=X.data ** 2, minlength=X.shape[0]))
    norms[norms == 0.0] = 1.0
    X.data /= norms[rows]
    return X


class TextFieldVectorizer(TransformerMixin, BaseEstimator):
    """Word plus `char_wb` TF-IDF of the text in each row (all columns of a row joined).

    `word_ngrams` or `char_ngrams` set to None leaves that kind of feature out.

    The first column flags rows whose text is empty. A field that is empty in every
    training row (tickets without a subject, say) gives only that column instead of
    failing, so one model shape fits every data source.
    """

    def __init__(self, word_ngrams=(1, 2), char_ngrams=(3, 4), min_df=2, max_df=0.9,
                 char_weight=1.0):
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_df = max_df
        self.char_weight = char_weight

    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None):
        X = validate_data(self, X, dtype=None, ensure_all_finite=False)
        docs = row_documents(X)
        self.word_, words = self._fit_one(docs, "word", self.word_ngrams)
        self.char_, chars = self._fit_one(docs, "char_wb", self.char_ngrams)
        return self._stack(words, chars, docs)

    def transform(self, X):
        check_is_fitted(self, ("word_", "char_"))
        X = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
        docs = row_documents(X)
        words = self.word_.transform(docs) if self.word_ is not None else None
        chars = self.char_.transform(docs) if self.char_ is not None else None
        return self._stack(words, chars, docs)

    def transform_texts(self, texts: list[str]):
        """`transform` of one text per row, without input validation: the prediction hot path."""
        docs = [normalize_text(t) for t in texts]
        words = _tfidf(self.word_, docs) if self.word_ is not None else None
        chars = _tfidf(self.char_, docs) if self.char_ is not None else None
        return self._stack(words, chars, docs)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, ("word_", "char_"))
        names = ["empty"]
        for prefix, vectorizer in (("w", self.word_), ("c", self.char_)):
            if vectorizer is not None:
                names += [f"{prefix}:{t}" for t in vectorizer.get_feature_names_out()]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True  # a missing cell is empty text
        return tags

    def _fit_one(self, docs: list[str], analyzer: str, ngrams: tuple[int, int] | None):
        """Fit one vectorizer; relax document-frequency limits on tiny data, None if no terms."""
        if ngrams is None:
            return None, None
        for min_df, max_df in ((self.min_df, self.max_df), (1, 1.0)):
            vectorizer = TfidfVectorizer(
                analyzer=analyzer, ngram_range=tuple(ngrams), min_df=min_df, max_df=max_df,
                sublinear_tf=True, lowercase=False, dtype=np.float64,
            )
            try:
                return vectorizer, vectorizer.fit_transform(docs)
            except ValueError:  # empty vocabulary, or limits that exclude every term
                continue
        return None, None

    def _stack(self, words, chars, docs: list[str]):
        empty = np.array([[0.0 if doc.strip() else 1.0] for doc in docs]).reshape(-1, 1)
        blocks = [sp.csr_matrix(empty)]
        if words is not None:
            blocks.append(words)
        if chars is not None:
            blocks.append(chars * self.char_weight)
        return sp.hstack(blocks, format="csr", dtype=np.float64)
