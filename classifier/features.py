"""Text features: word and character n-gram TF-IDF of one text field.

Service-desk mail is short, misspelt and bilingual: "contraseña", "contrasena" and
"contraseñas" must look alike, so text is lower-cased and stripped of accents, and
character n-grams inside word boundaries (`char_wb`) carry morphology and typos that
word n-grams miss. Numbers, URLs and addresses are masked because ticket numbers and
hostnames name one case, not a kind of case.
"""

from __future__ import annotations

import re
import weakref
from array import array
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import (
    CountVectorizer,
    TfidfVectorizer,
    strip_accents_unicode,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from classifier.vocabulary import CompactVocabulary, columns_of

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


# Distinct words seen by one fitted char_wb vectorizer before its cache starts over: a
# long-running daemon sees endless typos, ticket ids and names, so the cache must not grow
# without bound; at ~210 bytes a word (measured on mail bodies) that is ~45 MB per field.
_CACHE_LIMIT = 200_000
# Longer "words" (base64, URLs, hex dumps) are rare and would make the limit a count of
# arbitrarily large entries; they are counted each time instead of kept.
_CACHED_WORD_CHARS = 64


class _WordNgrams(dict):
    """Vocabulary indices of one word's padded char n-grams, computed on first sight.

    `char_wb` n-grams never cross a word boundary, so a document's n-grams are its words'
    n-grams in turn, and mail reuses few words very often: looking each word up once
    replaces ~15 slices and dict lookups per word by one. The n-grams come from sklearn's
    own `_char_wb_ngrams` (on the word alone), so padding and the once-only count of a
    word shorter than n match `transform` by construction. Values are never handed out
    to be mutated, so threads may share the cache.
    """

    def __init__(self, vectorizer: CountVectorizer) -> None:
        super().__init__()
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.ngram_range: tuple[int, int] = tuple(vectorizer.ngram_range)
        # An unfitted twin holds only ngram_range: the cache must not keep the fitted
        # vectorizer (its weak key) alive.
        twin = CountVectorizer(analyzer="char_wb", ngram_range=self.ngram_range)
        self._ngrams = twin._char_wb_ngrams

    def __missing__(self, word: str) -> array:
        found = array("i", columns_of(self.vocabulary, self._ngrams(word)))
        if len(word) <= _CACHED_WORD_CHARS:  # base64 runs and the like: count, don't keep
            if len(self) >= _CACHE_LIMIT:
                self.clear()
            self[word] = found
        return found


# Keyed by the fitted vectorizer but kept outside it, so a pickled model's bytes (and its
# sha256 in the manifest) do not depend on what it has predicted.
_word_ngram_caches: weakref.WeakKeyDictionary[CountVectorizer, _WordNgrams] = (
    weakref.WeakKeyDictionary()
)


def _ngram_cache(vectorizer: CountVectorizer) -> _WordNgrams:
    """This vectorizer's cache, started afresh if it was refitted or its n-grams changed."""
    cache = _word_ngram_caches.get(vectorizer)
    if (cache is None or cache.vocabulary is not vectorizer.vocabulary_
            or cache.ngram_range != tuple(vectorizer.ngram_range)):
        cache = _word_ngram_caches[vectorizer] = _WordNgrams(vectorizer)
    return cache


def _is_plain(vectorizer: CountVectorizer) -> bool:
    """True for the settings `_fit_one` uses, where the fast counts equal `transform`'s:
    documents already normalized, so decoding and preprocessing are the identity."""
    return (vectorizer.analyzer in ("char_wb", "word") and vectorizer.input == "content"
            and vectorizer.preprocessor is None and vectorizer.tokenizer is None
            and not vectorizer.lowercase and not vectorizer.strip_accents
            and vectorizer.stop_words is None and not vectorizer.binary)


def _count_matrix(indices: array, indptr: array, n_features: int) -> sp.csr_matrix:
    """Term counts from each document's (repeated) term indices, as sorted CSR like sklearn's."""
    columns = np.array(indices, dtype=np.intc)
    X = sp.csr_matrix((np.ones(len(columns)), columns, np.array(indptr, dtype=np.intc)),
                      shape=(len(indptr) - 1, n_features))
    X.sum_duplicates()  # sorts each row's indices and adds up repeats
    return X


def _char_wb_counts(vectorizer: CountVectorizer, docs: Iterable[str]) -> sp.csr_matrix:
    """`CountVectorizer.transform` for char_wb, one cache lookup per word.

    sklearn first collapses runs of whitespace to one space, then `str.split()`s; the
    collapse cannot change where `split()` cuts, so splitting directly is the same.
    """
    cache = _ngram_cache(vectorizer)
    indices, indptr = array("i"), array("i", [0])
    for doc in docs:
        for word in doc.split():
            indices.extend(cache[word])
        indptr.append(len(indices))
    return _count_matrix(indices, indptr, len(cache.vocabulary))


def _word_counts(vectorizer: CountVectorizer, docs: Iterable[str]) -> sp.csr_matrix:
    """`CountVectorizer.transform` for word n-grams without its per-term counting dict.

    n-grams are joined from sklearn's own tokenizer exactly as `_word_ngrams` joins them;
    with bigrams a per-token cache would not save the join, so there is none.
    """
    vocabulary, memo = vectorizer.vocabulary_, {}  # the memo lives for this batch only
    tokenize = vectorizer.build_tokenizer()
    min_n, max_n = vectorizer.ngram_range
    indices, indptr = array("i"), array("i", [0])
    for doc in docs:
        tokens = tokenize(doc)
        for n in range(min_n, max_n + 1):
            # zip stops at the shortest slice: exactly the len(tokens) - n + 1 windows
            windows = zip(*(tokens[k:] for k in range(n)), strict=False)
            grams = tokens if n == 1 else map(" ".join, windows)
            indices.extend(columns_of(vocabulary, grams, memo))
        indptr.append(len(indices))
    return _count_matrix(indices, indptr, len(vectorizer.vocabulary_))


def _counts(vectorizer: CountVectorizer, docs: list[str]) -> sp.csr_matrix:
    """What `CountVectorizer.transform` gives, as float64; fast for the settings we fit.

    sklearn's analyzer builds and looks up every n-gram in Python one at a time, which
    was ~90 % of prediction time.
    """
    if not _is_plain(vectorizer):
        return CountVectorizer.transform(vectorizer, docs).astype(np.float64)
    if vectorizer.analyzer == "char_wb":
        return _char_wb_counts(vectorizer, docs)
    return _word_counts(vectorizer, docs)


def _tfidf(vectorizer: TfidfVectorizer, docs: list[str]) -> sp.csr_matrix:
    """What `vectorizer.transform` returns (sublinear tf, idf, l2 norm), minus validation."""
    X = _counts(vectorizer, docs)
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
    `word_min_df`, when set, replaces `min_df` for the word n-grams alone.

    The first column flags rows whose text is empty. A field that is empty in every
    training row (tickets without a subject, say) gives only that column instead of
    failing, so one model shape fits every data source.
    """

    def __init__(self, word_ngrams=(1, 2), char_ngrams=(3, 4), min_df=2, max_df=0.9,
                 char_weight=1.0, word_min_df=None):
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_df = max_df
        self.char_weight = char_weight
        self.word_min_df = word_min_df

    def limits(self, analyzer: str) -> tuple:
        """(min_df, max_df) for one kind of n-gram."""
        word = analyzer == "word" and self.word_min_df is not None
        return (self.word_min_df if word else self.min_df), self.max_df

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

    def word_counts(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per text, how many of its words the fitted vocabulary knows, and how many it has.

        Mail unlike the training data is mostly words the model never saw; their share is
        how `classifier.familiarity` tells it apart. Words of one letter, and numbers, do
        not count (the tokenizer skips them, and numbers are masked to one digit).
        """
        check_is_fitted(self, ("word_", "char_"))
        if self.word_ is None:
            return np.zeros(len(texts)), np.zeros(len(texts))
        tokenize, vocabulary = self.word_.build_tokenizer(), self.word_.vocabulary_
        known, total, memo = np.zeros(len(texts)), np.zeros(len(texts)), {}
        for i, text in enumerate(texts):
            tokens = tokenize(normalize_text(text))
            known[i], total[i] = len(columns_of(vocabulary, tokens, memo)), len(tokens)
        return known, total

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
        for min_df, max_df in (self.limits(analyzer), (1, 1.0)):
            vectorizer = TfidfVectorizer(
                analyzer=analyzer, ngram_range=tuple(ngrams), min_df=min_df, max_df=max_df,
                sublinear_tf=True, lowercase=False, dtype=np.float64,
            )
            try:
                X = vectorizer.fit_transform(docs)
            except ValueError:  # empty vocabulary, or limits that exclude every term
                continue
            vectorizer.vocabulary_ = CompactVocabulary(vectorizer.vocabulary_)
            return vectorizer, X
        return None, None

    def _stack(self, words, chars, docs: list[str]):
        empty = np.array([[0.0 if doc.strip() else 1.0] for doc in docs]).reshape(-1, 1)
        blocks = [sp.csr_matrix(empty)]
        if words is not None:
            blocks.append(words)
        if chars is not None:
            blocks.append(chars * self.char_weight)
        return sp.hstack(blocks, format="csr", dtype=np.float64)
