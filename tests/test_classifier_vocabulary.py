"""The compact vocabulary answers exactly as the dict it replaces, in and out of a pickle."""

import pickle

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from classifier.features import TextFieldVectorizer, normalize_text
from classifier.vocabulary import CompactVocabulary, columns_of

TEXTS = ["La impresora de la planta 2 no imprime", "VPN caída desde esta mañana",
         "Necesito acceso a la carpeta compartida, gracias", "Printer jam again, thanks",
         "contraseña caducada", "no funciona el correo ni la VPN"]


def test_same_answers_as_the_dict_including_a_nul_term():
    plain = {"vpn": 3, "impresora": 0, "a\x00b": 2, "ñandú": 1, "hola mundo": 4}
    compact = CompactVocabulary(plain)
    assert len(compact) == len(plain)
    assert dict(compact.items()) == plain and compact == plain
    for term, column in plain.items():
        assert compact[term] == column and compact.get(term) == column and term in compact
    assert compact.get("nada") is None and compact.get("nada", -1) == -1
    assert "nada" not in compact and 3 not in compact
    with pytest.raises(KeyError):
        compact["nada"]
    assert pickle.loads(pickle.dumps(compact)) == plain


def test_columns_of_with_a_memo_equals_lookups_one_by_one():
    plain = {"vpn": 3, "impresora": 0, "correo": 1}
    terms = ["vpn", "nada", "correo", "vpn", "impresora", "nada"]
    memo: dict[str, int] = {}
    expected = [plain[t] for t in terms if t in plain]
    assert columns_of(CompactVocabulary(plain), terms, memo) == expected
    assert columns_of(CompactVocabulary(plain), terms, memo) == expected  # memo reused
    assert columns_of(plain, terms) == expected  # a model saved with dicts still works


def test_fitted_vectorizer_keeps_a_compact_vocabulary_and_the_same_features():
    vectorizer = TextFieldVectorizer(char_ngrams=(2, 5), min_df=1, max_df=1.0).fit(
        np.array([[t] for t in TEXTS], dtype=object))
    docs = [normalize_text(t) for t in [*TEXTS, "la vpn no va", "nada conocido xyz"]]
    for fitted, analyzer, ngrams in ((vectorizer.word_, "word", (1, 2)),
                                     (vectorizer.char_, "char_wb", (2, 5))):
        assert isinstance(fitted.vocabulary_, CompactVocabulary)
        plain = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, sublinear_tf=True,
                                lowercase=False).fit(docs[:len(TEXTS)])
        assert fitted.vocabulary_ == plain.vocabulary_
        assert (fitted.transform(docs) != plain.transform(docs)).nnz == 0
        assert list(fitted.get_feature_names_out()) == list(plain.get_feature_names_out())
