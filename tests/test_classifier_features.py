"""The custom text transformer: scikit-learn's estimator checks, and robustness to spelling."""

import numpy as np
import pandas as pd
from sklearn.utils.estimator_checks import parametrize_with_checks

from classifier.features import TextFieldVectorizer, normalize_text


@parametrize_with_checks([TextFieldVectorizer(), TextFieldVectorizer(min_df=1, char_ngrams=(2, 4))])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_normalize_strips_accents_case_and_masks_identifiers():
    text = normalize_text("CONTRASEÑA caducó: ver https://x.example/a?b=1 o a.b@c.es, ticket 12345")
    assert "contrasena caduco" in text
    assert "https" not in text and "@" not in text and "12345" not in text


def _similarity(vectorizer, a: str, b: str) -> float:
    X = vectorizer.transform(np.array([[a], [b]], dtype=object))
    return float((X[0] @ X[1].T).toarray()[0, 0])


def test_accents_and_typos_keep_words_close():
    corpus = np.array([["la contraseña ha caducado"], ["no puedo imprimir"],
                       ["la impresora no funciona"], ["necesito un portátil"]], dtype=object)
    vectorizer = TextFieldVectorizer(min_df=1).fit(corpus)
    same = _similarity(vectorizer, "contraseña caducada", "contrasena caducada")
    typo = _similarity(vectorizer, "contraseña caducada", "contrasenya cadukada")
    other = _similarity(vectorizer, "contraseña caducada", "necesito un portátil")
    assert same > 0.99
    assert typo > other


def test_a_field_empty_everywhere_gives_only_the_empty_flag():
    X = pd.DataFrame({"subject": ["", " ", ""]})
    vectorizer = TextFieldVectorizer()
    out = vectorizer.fit_transform(X)
    assert out.shape == (3, 1) and out.toarray().ravel().tolist() == [1.0, 1.0, 1.0]
    assert vectorizer.get_feature_names_out().tolist() == ["empty"]
    assert vectorizer.transform(pd.DataFrame({"subject": ["vpn"]})).toarray().tolist() == [[0.0]]


def test_missing_cells_are_empty_text():
    X = np.array([["vpn down"], [None], [np.nan]], dtype=object)
    out = TextFieldVectorizer(min_df=1).fit_transform(X)
    flags = out[:, 0].toarray().ravel().tolist()
    assert flags == [0.0, 1.0, 1.0]
    assert out[1].nnz == 1 and out[2].nnz == 1 and out[0].nnz > 1


def test_fast_transform_equals_transform():
    corpus = np.array([["la contraseña ha caducado"], ["no puedo imprimir"], [""],
                       ["la impresora no funciona"], ["necesito un portátil"]], dtype=object)
    vectorizer = TextFieldVectorizer(min_df=1).fit(corpus)
    texts = ["", "contraseña caducada", "zzz qqq", "la impresora no imprime", ""]
    fast = vectorizer.transform_texts(texts)
    slow = vectorizer.transform(np.array([[t] for t in texts], dtype=object))
    assert fast.shape == slow.shape
    assert abs(fast - slow).max() < 1e-12
