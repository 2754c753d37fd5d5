"""Fold features equal a feature step really fitted on the fold's rows, and nothing else.

Thresholds are honest only if each fold's TF-IDF never saw the rows it scores; training
gets those features from one count of every row (`FoldFeatures`), so this proves that
count-and-slice gives exactly what fitting on the fold alone gives.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer

from classifier import familiarity, model
from classifier.features import TextFieldVectorizer
from classifier.foldfeatures import FoldFeatures

FIXTURE = Path(__file__).parent / "fixtures" / "classifier" / "tickets.csv"


def step(**settings) -> ColumnTransformer:
    return ColumnTransformer([("text", TextFieldVectorizer(**settings), ["subject", "body"])],
                             sparse_threshold=1.0)


@pytest.mark.parametrize("settings", [
    {},  # the defaults: min_df=2, max_df=0.9, so limits apply and prune
    {"char_ngrams": model.CHAR_NGRAMS, "min_df": model.MIN_DF, "max_df": model.MAX_DF},
    {"word_ngrams": None, "char_weight": 0.5},
    {"char_ngrams": (2, 5), "min_df": 1, "max_df": 1.0, "word_min_df": 2},
    {"min_df": 200},  # excludes every term: relaxed to (1, 1.0) as a real fit does
])
def test_fold_tfidf_equals_a_step_fitted_on_the_fold_alone(settings):
    texts = pd.read_csv(FIXTURE)[["subject", "body"]]
    texts.loc[3, "subject"] = ""
    texts.loc[5, ["subject", "body"]] = ["", "123 456"]  # no word at all once numbers are masked
    folded = FoldFeatures(step(**settings), texts)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(texts))
    fit_rows, rows = np.sort(order[:50]), np.sort(order[50:])
    fitted = step(**settings).fit(texts.iloc[fit_rows])
    expected = fitted.transform(texts.iloc[rows])
    got = folded.tfidf(fit_rows, rows)
    assert got.shape == expected.shape
    assert abs(got - expected).max() < 1e-12
    assert abs(folded.tfidf(fit_rows, fit_rows) - fitted.transform(texts.iloc[fit_rows])).max() \
        < 1e-12
    fields = {c: list(texts.iloc[rows][c]) for c in ("subject", "body")}
    coverage = familiarity.share_known(*folded.word_counts(fit_rows, rows))
    np.testing.assert_allclose(coverage, familiarity.word_coverage(fitted, fields))


def test_fold_features_refuse_a_step_they_cannot_reproduce():
    from sklearn.feature_extraction.text import TfidfVectorizer

    other = ColumnTransformer([("text", TfidfVectorizer(), "body")])
    with pytest.raises(TypeError, match="TextFieldVectorizer"):
        FoldFeatures(other, pd.read_csv(FIXTURE)[["subject", "body"]])
