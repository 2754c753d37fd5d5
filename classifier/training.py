"""Training: text features once, then per head a calibrated fit, out-of-fold scores, a threshold.

The text features are fitted once on every row's text (no labels involved) and shared by
all heads; only the linear models are cross-validated, and the thresholds reuse the
calibrator's own out-of-fold folds. That keeps training on 20,000 rows inside the time
budget on two cores. The vocabulary has seen the held-out rows' words, never their
labels, so the out-of-fold scores are barely optimistic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sklearn.model_selection import cross_val_predict

from classifier import artefact, dataset, model, thresholds
from classifier.metrics import head_metrics
from classifier.trained import TrainedModel
from pipeline.errors import DataError

MIN_CLASS_ROWS = 6  # fewer cannot fill 3 outer folds x 3 calibration folds


def train_from_paths(paths: list[str], out_dir, target_precision: float = 0.9,
                     progress: bool = False) -> dict:
    """Train every head found in the files and write the artefact; returns the manifest."""
    data = dataset.load(paths)
    trained = train_frame(data.frame, data.heads, target_precision, progress)
    return artefact.save(out_dir, trained, data, target_precision)


def train_frame(frame: pd.DataFrame, heads: tuple[str, ...] | list[str],
                target_precision: float = 0.9, progress: bool = False) -> TrainedModel:
    if not heads:
        raise DataError("no labels to learn from: fill in type, priority or queue for some rows")
    trained = TrainedModel()
    with _steps(progress, 1 + 2 * len(heads)) as step:
        step("text features")
        features = model.build_features()
        X = features.fit_transform(frame[list(model.FIELDS)])
        for head in heads:
            _train_head(trained, head, features, X, frame[head], target_precision, step)
    if not trained.pipelines:
        raise DataError("no head could be trained: " + "; ".join(
            f"{h}: {why}" for h, why in trained.skipped.items()))
    return trained


def _train_head(trained: TrainedModel, head: str, features, X, labels: pd.Series,
                target: float, step) -> None:
    keep, dropped = _usable_rows(labels)
    y = labels[keep].to_numpy(dtype=object)
    if len(set(y)) < 2:
        trained.skipped[head] = (f"needs at least 2 labels with {MIN_CLASS_ROWS}+ rows each; "
                                 f"found {_describe(labels[labels != ''])}")
        step(f"skip {head}", 2)
        return
    Xh = X[np.flatnonzero(keep.to_numpy())]
    step(f"fit {head}")
    classifier = model.build_classifier().fit(Xh, y)
    step(f"cross-validate {head}")
    proba = out_of_fold_proba(classifier, Xh, y)
    classes = classifier.classes_
    predicted, confidence = classes[proba.argmax(axis=1)], proba.max(axis=1)
    chosen = thresholds.choose(predicted == y, confidence, target)
    trained.pipelines[head] = model.build_pipeline(features, classifier)
    trained.heads[head] = {
        "labels": [str(c) for c in classes], "threshold": chosen.value, "rows": len(y),
        "dropped_labels": dropped,
        "metrics": head_metrics(y, predicted, confidence, chosen.value),
    }


def out_of_fold_proba(classifier, X, y) -> np.ndarray:
    """Out-of-fold confidences: each row scored by an SVM that did not see it.

    The same folds as the stacked calibrator's own, so the decision values are exactly the
    ones it was fitted on; only the calibrator (a few parameters per class) saw them all.
    """
    svm = classifier.estimators[0][1]
    scores = cross_val_predict(svm, X, y, cv=model.folds(), method="decision_function")
    return classifier.final_estimator_.predict_proba(scores.reshape(len(y), -1))


def _usable_rows(labels: pd.Series) -> tuple[pd.Series, dict[str, int]]:
    """Labelled rows whose class has enough examples to cross-validate."""
    counts = labels[labels != ""].value_counts()
    rare = counts[counts < MIN_CLASS_ROWS]
    keep = (labels != "") & ~labels.isin(rare.index)
    return keep, {str(k): int(v) for k, v in rare.items()}


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
