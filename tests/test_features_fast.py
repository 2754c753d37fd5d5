"""The prediction fast path of TextFieldVectorizer must count exactly what sklearn counts.

`transform_texts` bypasses sklearn's analyzers (cached per-word char_wb n-grams, direct
word n-gram lookup); a model whose features drift from training would still predict,
just worse, so equality is checked matrix by matrix on real seed mail and odd text.
"""

from __future__ import annotations

import gc
import pickle
import random
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from classifier import features
from classifier.features import TextFieldVectorizer, normalize_text

SEEDS = Path(__file__).resolve().parents[1] / "training_data"

TRICKY = [
    "", " ", "   ", "\t", "\n", "\t\n \r\n", "a", "ab", "a b c", "ab  cd\t\tef\n\ngh",
    "  leading and trailing  ", "no\u00a0break\u2003em\u3000ideographic\x0bvt\x1cfs",
    "contraseña caducó Ñandú ÁÉÍÓÚ über", "impresora 🖨️ rota 😡😡", "🙂", "x🙂y",
    "a" * 300, "supercalifragilisticoespialidoso" * 5, "zzqx qqzv wxyzzy", "0 00 123 4567 8",
    "ticket #12345 en https://x.example/a?b=1 de a.b@c.es", "I", "it's the VPN again",
    "ñ", "é ü", "mixed CASE Words", "x\u0301 combining", "tab\tseparated\tfields",
]


def _seed_corpus() -> list[str]:
    """Subject and body of every seed row, Spanish and English, as one text each."""
    frames = [pd.read_csv(path, dtype=str, keep_default_na=False)
              for path in sorted(SEEDS.glob("*.csv"))]
    rows = pd.concat(frames, ignore_index=True)
    return list(rows["subject"] + " " + rows["body"])


def _fuzz(count: int, seed: int = 0) -> list[str]:
    """Random text over letters, accents, emoji, digits and every kind of whitespace."""
    rng = random.Random(seed)
    alphabet = [*"abcdeilmnoprstuñáéíóú019 ", "  ", "\t", "\n", "\u00a0", "🙂", "\u0301"]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
            for _ in range(count)]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return _seed_corpus()


@pytest.fixture(scope="module", params=[{}, {"min_df": 1, "word_ngrams": (1, 3),
                                             "char_ngrams": (2, 5)}])
def fitted(request: pytest.FixtureRequest, corpus: list[str]) -> TextFieldVectorizer:
    """The default features, and wider n-gram ranges to exercise the general code."""
    train = np.array([[text] for text in corpus[::2]], dtype=object)
    return TextFieldVectorizer(**request.param).fit(train)


def _texts(corpus: list[str]) -> list[str]:
    """Held-out seed mail (unseen words included), tricky text and random text."""
    return corpus[1::2] + TRICKY + _fuzz(300)


def _assert_same(fast: sp.spmatrix, slow: sp.spmatrix, exact: bool = False) -> None:
    fast, slow = sp.csr_matrix(fast), sp.csr_matrix(slow)
    slow.sort_indices()
    assert fast.shape == slow.shape
    assert fast.has_sorted_indices
    np.testing.assert_array_equal(fast.indptr, slow.indptr)
    np.testing.assert_array_equal(fast.indices, slow.indices)
    if exact:
        np.testing.assert_array_equal(fast.data, slow.data)
    else:
        np.testing.assert_allclose(fast.data, slow.data, rtol=0, atol=1e-12)


def _inner(vectorizer: TextFieldVectorizer) -> list[TfidfVectorizer]:
    return [v for v in (vectorizer.word_, vectorizer.char_) if v is not None]


def test_counts_equal_sklearn_counts(fitted: TextFieldVectorizer, corpus: list[str]) -> None:
    """Raw (unnormalized) text too: the split must match sklearn on any whitespace."""
    texts = _texts(corpus)
    for docs in (texts, [normalize_text(t) for t in texts]):
        for inner in _inner(fitted):
            assert features._is_plain(inner)
            slow = CountVectorizer.transform(inner, docs)
            _assert_same(features._counts(inner, docs), slow, exact=True)
            _assert_same(features._counts(inner, docs), slow, exact=True)  # from the cache


def test_tfidf_equals_sklearn_transform(fitted: TextFieldVectorizer, corpus: list[str]) -> None:
    docs = [normalize_text(t) for t in _texts(corpus)]
    for inner in _inner(fitted):
        _assert_same(features._tfidf(inner, docs), inner.transform(docs))


def test_transform_texts_equals_transform(fitted: TextFieldVectorizer, corpus: list[str]) -> None:
    texts = _texts(corpus)
    slow = fitted.transform(np.array([[t] for t in texts], dtype=object))
    _assert_same(fitted.transform_texts(texts), slow)
    for text in TRICKY:  # one message at a time, as the daemon predicts
        _assert_same(fitted.transform_texts([text]), fitted.transform(np.array([[text]], dtype=object)))


def test_a_full_cache_starts_over(fitted: TextFieldVectorizer, corpus: list[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features, "_CACHE_LIMIT", 50)
    docs = [normalize_text(t) for t in _texts(corpus)[:200]]
    inner = fitted.char_
    features._word_ngram_caches.pop(inner, None)  # earlier tests filled it past the limit
    _assert_same(features._counts(inner, docs), CountVectorizer.transform(inner, docs), exact=True)
    assert len(features._ngram_cache(inner)) <= 50


def test_long_words_are_counted_but_not_kept(fitted: TextFieldVectorizer) -> None:
    """A base64 run or a URL is one "word" of any length: caching those would make the
    word limit no memory limit."""
    long_word = "qwertyuiopasdfghjkl" * 40
    docs = [normalize_text(f"la impresora {long_word} no imprime {long_word}")]
    inner = fitted.char_
    _assert_same(features._counts(inner, docs), CountVectorizer.transform(inner, docs), exact=True)
    cache = features._ngram_cache(inner)
    assert long_word not in cache and "impresora" in cache


def test_threads_share_the_cache_safely(corpus: list[str]) -> None:
    vectorizer = TextFieldVectorizer().fit(np.array([[t] for t in corpus[:400]], dtype=object))
    texts = _texts(corpus)[:800]
    expected = vectorizer.transform(np.array([[t] for t in texts], dtype=object))
    chunks = [texts[i::4] for i in range(4)] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(vectorizer.transform_texts, chunks))
    for i, result in enumerate(results):
        _assert_same(result, expected[i % 4::4])


def test_refitting_does_not_reuse_a_stale_cache(corpus: list[str]) -> None:
    vectorizer = TextFieldVectorizer(min_df=1)
    for part in (corpus[:100], corpus[100:200]):
        vectorizer.fit(np.array([[t] for t in part], dtype=object))
        texts = corpus[200:300]
        slow = vectorizer.transform(np.array([[t] for t in texts], dtype=object))
        _assert_same(vectorizer.transform_texts(texts), slow)


def test_the_cache_is_not_pickled(corpus: list[str]) -> None:
    """Model files are checked by sha256, so their bytes must not depend on past predictions."""
    vectorizer = TextFieldVectorizer().fit(np.array([[t] for t in corpus[:400]], dtype=object))
    before = pickle.dumps(vectorizer)
    texts = corpus[400:600] + TRICKY
    predicted = vectorizer.transform_texts(texts)
    assert len(features._ngram_cache(vectorizer.char_)) > 0
    after = pickle.dumps(vectorizer)
    assert before == after
    _assert_same(pickle.loads(after).transform_texts(texts), predicted)


def test_the_cache_dies_with_its_vectorizer(corpus: list[str]) -> None:
    vectorizer = TextFieldVectorizer().fit(np.array([[t] for t in corpus[:200]], dtype=object))
    vectorizer.transform_texts(corpus[200:250])
    inner = weakref.ref(vectorizer.char_)
    del vectorizer
    gc.collect()
    assert inner() is None
