"""The estimators: one text-feature step shared by every head, one linear model per head.

Choices measured on real ticket data (bench/classify/quality.py): word 1-2 grams plus
char_wb 3-4 grams per field, a linear SVM with balanced class weights (minority classes
such as "critical" keep their recall), and a multinomial logistic regression fitted on
the SVM's out-of-fold decision values (3 folds) as the calibrator: Platt scaling for
many classes at once, so the confidence is a probability a threshold can be set on.
It kept the macro-F1 of per-class sigmoid calibration (CalibratedClassifierCV) and
covered more mail at the same precision, because it sees all class scores together.
"""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from classifier.features import TextFieldVectorizer

FIELDS = ("subject", "body")
CV_FOLDS = 3
SEED = 0


def folds() -> StratifiedKFold:
    """Shuffled, so files concatenated by language or source do not make lopsided folds."""
    return StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=SEED)


def build_features() -> ColumnTransformer:
    """Subject and body as separate fields: the same word means more in a subject."""
    return ColumnTransformer(
        [(field, TextFieldVectorizer(), [field]) for field in FIELDS],
        sparse_threshold=1.0,
    )


def build_classifier() -> StackingClassifier:
    svm = LinearSVC(C=0.1, class_weight="balanced")
    return StackingClassifier([("svm", svm)], final_estimator=LogisticRegression(C=1.0),
                              cv=folds(), stack_method="decision_function")


def build_pipeline(features: ColumnTransformer, classifier) -> Pipeline:
    return Pipeline([("features", features), ("classify", classifier)])
