"""Training: out-of-fold scores for honest thresholds, then the final fit on every row.

Every fitted step sees only its training folds: for each of the 3 folds the text features
(TF-IDF included, computed by `foldfeatures` as a fit on those rows would give them) and
every head's SVM are fitted on the other two folds and score this one. Those out-of-fold
scores fit the temperature (each fold's from the other folds' scores), set each head's
threshold, and give the cuts below which mail is "unfamiliar". The folds are shared by
all heads, so the rows are counted once for the folds and the features fitted once more
on every row for the model. Classes too small to cross-validate are still learned and
named in the manifest (`rare_labels`); their out-of-fold rows count, mostly as errors.

When the data comes in three or more files, the folds are whole files (grouped folds):
out-of-fold scores then come from mail written in another file's style, which is what
mail from outside looks like. With stratified folds, every style was in every training
fold, so thresholds promised more than they kept off-domain: holding out each group of
training_data/ files in turn (terse, registers, the first house style) and training on
the rest, the predictions not reviewed were right 0.84/0.87/0.88 (priority) and
0.93/0.80/0.83 (queue) of the time with stratified folds, and 0.88/0.96/0.98 and
0.95/0.87/0.86 with folds grouped by file (type: 0.92/0.92/0.93 and 0.92/0.94/0.97), at
the price of coverage. One file (a desk's own export, the bench) keeps stratified folds.

Each head also gets a second opinion (`model.build_second_*`: word counts and complement
Naive Bayes), fitted on the same folds; the manifest says how often it agreed out of fold
and what precision the predictions that pass both the threshold and the agreement had.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from scipy.special import softmax
from sklearn.model_selection import KFold

from classifier import artefact, dataset, familiarity, model, thresholds
from classifier.foldfeatures import FoldFeatures
from classifier.metrics import head_metrics
from classifier.trained import TrainedModel
from pipeline.errors import DataError

RARE_ROWS = 2 * model.CV_FOLDS  # fewer cannot be in every training fold twice over


def train_from_paths(paths: list[str], out_dir, target_precision: float = 0.9,
                     progress: bool = False) -> dict:
    """Train every head found in the files and write the artefact; returns the manifest."""
    data = dataset.load(paths)
    trained = train_frame(data.frame, data.heads, target_precision, progress,
                          source_groups(data))
    return artefact.save(out_dir, trained, data, target_precision)


def source_groups(data: dataset.Dataset) -> np.ndarray:
    """Each row's file, as a number: the groups of the cross-validation folds."""
    return np.repeat(np.arange(len(data.sources)), [s.rows for s in data.sources])


@dataclass
class _HeadScores:
    """A head's labelled rows, its classes, and their out-of-fold scores."""

    rows: np.ndarray
    y: np.ndarray
    classes: np.ndarray
    scores: np.ndarray = field(init=False)
    fold: np.ndarray = field(init=False)
    second: np.ndarray = field(init=False)  # the second model's label; None: no opinion

    def __post_init__(self) -> None:
        self.scores = np.full((len(self.rows), len(self.classes)), -np.inf)
        self.fold = np.full(len(self.rows), -1)
        self.second = np.full(len(self.rows), None, dtype=object)

    @property
    def truth(self) -> np.ndarray:
        return np.searchsorted(self.classes, self.y)


def train_frame(frame: pd.DataFrame, heads: tuple[str, ...] | list[str],
                target_precision: float = 0.9, progress: bool = False,
                groups: np.ndarray | None = None) -> TrainedModel:
    """`groups` (one per row, e.g. its file): folds keep each group whole when there are
    at least as many groups as folds; otherwise folds are stratified on the first head."""
    if not heads:
        raise DataError("no labels to learn from: fill in type, priority or queue for some rows")
    trained = TrainedModel()
    texts = frame[list(model.FIELDS)].reset_index(drop=True)
    scored = {h: s for h in heads if (s := _head_scores(trained, h, frame[h])) is not None}
    if not scored:
        raise DataError("no head could be trained: " + "; ".join(
            f"{h}: {why}" for h, why in trained.skipped.items()))
    with _steps(progress, model.CV_FOLDS + 1 + len(scored)) as step:
        coverage = _out_of_fold(texts, scored, step, groups)
        step("text features")
        features, second = model.build_features(), model.build_second_features()
        X, X2 = features.fit_transform(texts), second.fit_transform(texts)
        for head, s in scored.items():
            step(f"fit {head}")
            _train_head(trained, head, features, X, s, target_precision)
            trained.second[head] = model.build_pipeline(
                second, model.build_second_classifier().fit(X2[s.rows], s.y))
    trained.min_word_coverage = familiarity.choose_cut(coverage)
    trained.folds = "grouped" if _grouped(groups) else "stratified"
    return trained


def _head_scores(trained: TrainedModel, head: str, labels: pd.Series) -> _HeadScores | None:
    rows = np.flatnonzero((labels != "").to_numpy())
    y = labels.to_numpy(dtype=object)[rows].astype(str)
    classes = np.unique(y)
    if len(classes) < 2:
        trained.skipped[head] = f"needs at least 2 labels; found {_describe(labels[labels != ''])}"
        return None
    return _HeadScores(rows, y, classes)


def _out_of_fold(texts: pd.DataFrame, scored: dict[str, _HeadScores], step,
                 groups: np.ndarray | None) -> np.ndarray:
    """Fill every head's out-of-fold scores; returns each row's out-of-fold word coverage.

    Each fold's features are those of a step fitted on the other folds alone
    (`FoldFeatures`: the rows are counted once, not tokenised again per fold).
    """
    coverage = np.full(len(texts), np.nan)
    folded = FoldFeatures(model.build_features(), texts)
    folded2 = FoldFeatures(model.build_second_features(), texts)
    for k, (train, test) in enumerate(_splits(texts, scored, groups)):
        step(f"cross-validate {k + 1}/{model.CV_FOLDS}")
        X_train, X_test = folded.tfidf(train, train), folded.tfidf(train, test)
        coverage[test] = familiarity.share_known(*folded.word_counts(train, test))
        X2_train, X2_test = folded2.tfidf(train, train), folded2.tfidf(train, test)
        for s in scored.values():
            _score_fold(s, X_train, X_test, train, test, k)
            _second_fold(s, X2_train, X2_test, train, test)
    return coverage


def _grouped(groups: np.ndarray | None) -> bool:
    return groups is not None and len(np.unique(groups)) >= model.CV_FOLDS


def _splits(texts: pd.DataFrame, scored: dict[str, _HeadScores],
            groups: np.ndarray | None = None) -> list:
    """Whole groups per fold when there are enough groups; else folds stratified on the
    first head (unlabelled rows as their own group)."""
    if _grouped(groups):
        return list(model.group_folds().split(texts, groups=groups))
    first = next(iter(scored.values()))
    key = np.full(len(texts), "", dtype=object)
    key[first.rows] = first.y
    try:
        return list(model.folds().split(texts, key))
    except ValueError:  # too few rows of every class to stratify: plain shuffled folds
        return list(KFold(model.CV_FOLDS, shuffle=True, random_state=model.SEED).split(texts))


def _score_fold(s: _HeadScores, X_train, X_test, train: np.ndarray, test: np.ndarray,
                k: int) -> None:
    fit_at = np.flatnonzero(np.isin(s.rows, train))
    score_at = np.flatnonzero(np.isin(s.rows, test))
    s.fold[score_at] = k
    if len(np.unique(s.y[fit_at])) < 2 or not len(score_at):
        return  # nothing to learn here: these rows stay unscored, counted as errors
    position = {r: i for i, r in enumerate(train)}
    clf = model.build_classifier().fit(X_train[[position[r] for r in s.rows[fit_at]]],
                                       s.y[fit_at])
    position = {r: i for i, r in enumerate(test)}
    columns = np.searchsorted(s.classes, clf.classes_)
    s.scores[np.ix_(score_at, columns)] = clf.decision_function(
        X_test[[position[r] for r in s.rows[score_at]]])


def _second_fold(s: _HeadScores, X_train, X_test, train: np.ndarray,
                 test: np.ndarray) -> None:
    """The second model's out-of-fold labels for this fold's rows of the head."""
    fit_at, score_at = np.isin(s.rows, train), np.isin(s.rows, test)
    if len(np.unique(s.y[fit_at])) < 2 or not score_at.any():
        return
    position = {r: i for i, r in enumerate(train)}
    clf = model.build_second_classifier().fit(X_train[[position[r] for r in s.rows[fit_at]]],
                                              s.y[fit_at])
    position = {r: i for i, r in enumerate(test)}
    s.second[score_at] = model.second_labels(clf, X_test[[position[r] for r in s.rows[score_at]]])


def _agreement(s: _HeadScores, predicted: np.ndarray, confidence: np.ndarray,
               correct: np.ndarray, threshold: float | None) -> dict:
    """Out of fold: how often the second model agreed, and what passes both checks."""
    agree = np.array([b is None or a == b for a, b in zip(predicted, s.second, strict=True)])
    kept = agree & ~thresholds.needs_review(confidence, threshold)
    return {"agreement": round(float(agree.mean()), 4),
            "not_reviewed": round(float(kept.mean()), 4),
            "precision_not_reviewed": round(float(correct[kept].mean()), 4) if kept.any()
            else None}


def _train_head(trained: TrainedModel, head: str, features, X, s: _HeadScores,
                target: float) -> None:
    truth = _seen_truth(s)
    confidence, best = _cross_fitted_confidence(s, truth)
    predicted = s.classes[best]
    correct = (predicted == s.y) & np.isfinite(s.scores).any(axis=1)
    chosen = thresholds.choose(correct, confidence, target)
    classifier = model.build_classifier()
    classifier.temperature = model.fit_temperature(s.scores, truth)
    classifier.fit(X[s.rows], s.y)
    trained.pipelines[head] = model.build_pipeline(features, classifier)
    counts = pd.Series(s.y).value_counts()
    trained.heads[head] = {
        "labels": [str(c) for c in s.classes], "threshold": chosen.value, "rows": len(s.y),
        "temperature": round(classifier.temperature, 6),
        "min_top_score": familiarity.choose_score_cut(s.scores.max(axis=1), len(s.classes)),
        "rare_labels": {str(k): int(v) for k, v in counts[counts < RARE_ROWS].items()},
        "metrics": head_metrics(s.y, predicted, confidence, chosen.value),
        "second_opinion": _agreement(s, predicted, confidence, correct, chosen.value),
    }


def _seen_truth(s: _HeadScores) -> np.ndarray:
    """Each row's class column, or -1 where its fold's model never saw that class."""
    truth = s.truth
    seen = np.isfinite(s.scores[np.arange(len(truth)), truth])
    return np.where(seen, truth, -1)


def _cross_fitted_confidence(s: _HeadScores, truth: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Confidence of each row's best class, at a temperature fitted on the other folds."""
    confidence = np.zeros(len(s.y))
    for k in np.unique(s.fold):
        here = s.fold == k
        others = np.where(here, -1, truth)
        proba = softmax(s.scores[here] / model.fit_temperature(s.scores, others), axis=1)
        confidence[here] = np.nan_to_num(proba.max(axis=1))
    return confidence, s.scores.argmax(axis=1)


def _describe(labels: pd.Series) -> str:
    counts = labels.value_counts()
    return ", ".join(f"{k} ({v})" for k, v in counts.items()) or "no labels"


@contextlib.contextmanager
def _steps(enabled: bool, total: int) -> Iterator:
    """A progress bar on stderr when asked for; a no-op callable otherwise."""
    if not enabled:
        yield lambda description, weight=1: None
        return
    columns = (TextColumn("{task.description:<24}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("training", total=total)
        done = [0]

        def step(description: str, weight: int = 1) -> None:
            """Start a step: the bar shows the steps finished before it."""
            bar.update(task, description=description, completed=done[0])
            done[0] += weight

        yield step
