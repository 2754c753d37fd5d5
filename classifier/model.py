"""The estimators: one text-feature step shared by every head, one linear model per head.

Choices measured on real ticket data by 3-fold cross-validation inside the training part
of the four many-teams sets (bench/classify/variants.py --cv): subject and body joined
into one text, word 1-2 grams plus char_wb 2-5 grams with no document-frequency limits,
and a linear SVM with balanced class weights at C=0.5. The label is the SVM's best score,
so a large class does not win close calls the way the argmax of a multinomial calibrator
let it (the earlier model, with that argmax, C=0.1 and separate fields, was 0.07 macro-F1
under the baseline on 54 teams). The confidence is the softmax of the scores at one fitted
temperature: a single parameter cannot change which class wins, and it turns the scores
into a probability a threshold can be set on.

Tried and not kept, chosen by holding out each style of training_data/ in turn
(bench/classify/styles.py; mean type accuracy over the three styles 0.885 as shipped):
Spanish + English stop words dropped from the word features 0.834/0.867 on terse and
registers (0.858/0.884 as shipped; 0.840/0.867 with negations kept, mean 0.867);
dropped from the text before both n-gram kinds (negations kept) 0.788 on terse; the
SVM scores plus 0.1 or 0.2 of the complement Naive Bayes scores 0.877 and 0.866;
C=0.2 0.878, C=1 0.887, char n-grams weighted 0.6 0.880. On the many-teams sets
(3-fold CV in the training part) the blend at 0.1 gained 0.005 on business_service and
lost 0.008 on sub_category2; larger weights lost more. tf is already sublinear
(features._fit_one).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from classifier.features import TextFieldVectorizer

FIELDS = ("subject", "body")
CV_FOLDS = 3
SEED = 0
SVM_C = 0.5
CHAR_NGRAMS = (2, 5)
MIN_DF, MAX_DF = 1, 1.0  # every term: +0.01 macro-F1 on all four many-teams sets (CV)


def folds() -> StratifiedKFold:
    """Shuffled, so files concatenated by language or source do not make lopsided folds."""
    return StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=SEED)


def group_folds() -> GroupKFold:
    """Whole files per fold, shuffled so the file order does not decide the folds."""
    return GroupKFold(n_splits=CV_FOLDS, shuffle=True, random_state=SEED)


def build_features() -> ColumnTransformer:
    """Subject and body joined: on 54 teams that beat separate fields by 0.02 macro-F1."""
    return ColumnTransformer(
        [("text", TextFieldVectorizer(char_ngrams=CHAR_NGRAMS, min_df=MIN_DF, max_df=MAX_DF),
          list(FIELDS))],
        sparse_threshold=1.0,
    )


def build_classifier() -> TemperatureSVC:
    return TemperatureSVC(C=SVM_C)


# The second opinion: a different kind of model on different features, so that where the
# two disagree the mail is in a region the training data did not settle. Word unigrams
# seen in at least two mails and a complement Naive Bayes, chosen by 3-fold CV on
# training_data/ among four cheap candidates: its disagreement with the SVM caught 35 %
# (type), 36 % (priority) and 38 % (queue) of the SVM's out-of-fold errors while agreeing
# on 88 %, 75 % and 82 % of mail (word 1-2 grams did as well with a larger vocabulary; a
# logistic regression agreed more and caught only 25 %).
SECOND_WORDS, SECOND_MIN_DF = (1, 1), 2


def build_second_features() -> ColumnTransformer:
    return ColumnTransformer(
        [("text", TextFieldVectorizer(word_ngrams=SECOND_WORDS, char_ngrams=None,
                                      min_df=SECOND_MIN_DF, max_df=1.0), list(FIELDS))],
        sparse_threshold=1.0,
    )


def build_second_classifier() -> ComplementNB:
    return ComplementNB()


def second_labels(classifier, X) -> np.ndarray:
    """ComplementNB.predict as plain algebra (the argmax of X @ feature_log_prob_.T)."""
    if not isinstance(classifier, ComplementNB) or len(classifier.classes_) < 2:
        return classifier.predict(X)
    return classifier.classes_[np.asarray(X @ classifier.feature_log_prob_.T).argmax(axis=1)]


def build_pipeline(features: ColumnTransformer, classifier) -> Pipeline:
    return Pipeline([("features", features), ("classify", classifier)])


def score_matrix(scores: np.ndarray) -> np.ndarray:
    """One column per class: a binary SVM's single score s becomes (-s, s), as one-vs-rest
    would give, so two classes and many share one temperature rule."""
    scores = np.asarray(scores, dtype=float)
    return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores


def linear_scores(svm: LinearSVC, X) -> np.ndarray:
    """The SVM's scores, one column per class, computed in the weights' float32.

    Multiplying float64 features by float32 weights would make scipy copy the weights to
    float64 on every call; casting the (small, sparse) features instead does not.
    """
    X = X.astype(np.float32) if sp.issparse(X) else np.asarray(X, dtype=np.float32)
    scores = np.asarray(X @ svm.coef_.T, dtype=np.float64) + svm.intercept_
    return score_matrix(scores[:, 0] if scores.shape[1] == 1 else scores)


class TemperatureSVC(ClassifierMixin, BaseEstimator):
    """LinearSVC(class_weight="balanced") whose probabilities are softmax(scores / T).

    `temperature` is set by training from out-of-fold scores (`fit_temperature`); the
    SVM's own argmax is kept, so `predict` is the SVM's decision.
    """

    def __init__(self, C: float = 1.0, temperature: float = 1.0):
        self.C = C
        self.temperature = temperature

    def fit(self, X, y):
        self.svm_ = LinearSVC(C=self.C, class_weight="balanced").fit(X, y)
        # float32 halves the largest part of a loaded model (classes x terms weights),
        # which keeps the daemon near 300 MB; scores stay exact to ~1e-7. Fortran order
        # (as liblinear returns it) makes coef_.T contiguous, so `X @ coef_.T` copies
        # nothing: a copy per call cost 7 ms a message.
        self.svm_.coef_ = np.asfortranarray(self.svm_.coef_, dtype=np.float32)
        self.classes_ = self.svm_.classes_
        return self

    def decision_function(self, X) -> np.ndarray:
        check_is_fitted(self, "svm_")
        return linear_scores(self.svm_, X)

    def predict_proba(self, X) -> np.ndarray:
        return softmax(self.decision_function(X) / self.temperature, axis=1)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """The temperature that minimises the log loss of softmax(scores / T) on these rows.

    `truth` is each row's class column, -1 for a row whose class its scorer never saw
    (left out: no temperature can make that right).
    """
    known = truth >= 0
    if not known.any():
        return 1.0
    s, t = scores[known], truth[known]

    def loss(log_t: float) -> float:
        return -float(np.mean(log_softmax(s / np.exp(log_t), axis=1)[np.arange(len(t)), t]))

    return float(np.exp(minimize_scalar(loss, bounds=(-6.0, 4.0), method="bounded").x))
