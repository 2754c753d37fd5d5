"""Model variants against the strong baseline on quality.py's splits, with paired differences.

    python bench/classify/variants.py [--seeds 3] [--with-seeds DIR] [--only NAME]

For each task and split the text features are fitted once per feature setting (they see
no labels) and every classifier variant is fitted on them, so variants differ only in the
model. Prints per-split macro-F1 of each variant and of quality.py's "strong" baseline,
the paired differences variant - strong (mean and sd over splits), and per-class recall.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from classify.quality import TICKETS, baselines, real_tasks, seed_tasks

from classifier import model
from classifier.features import TextFieldVectorizer
from classifier.training import _usable_rows


def features(char_weight: float) -> ColumnTransformer:
    return ColumnTransformer(
        [(f, TextFieldVectorizer(char_weight=char_weight), [f]) for f in model.FIELDS],
        sparse_threshold=1.0)


def stack(C: float, final_balanced: bool, final_C: float = 1.0) -> StackingClassifier:
    final = LogisticRegression(C=final_C, class_weight="balanced" if final_balanced else None)
    return StackingClassifier([("svm", LinearSVC(C=C, class_weight="balanced"))],
                              final_estimator=final, cv=model.folds(),
                              stack_method="decision_function")


# name -> (char_weight, SVM C, balanced calibrator[, calibrator C])
VARIANTS = {
    "current": (1.0, 0.1, False),
    "C0.05": (1.0, 0.05, False),
    "C0.3": (1.0, 0.3, False),
    "C1": (1.0, 1.0, False),
    "balLR": (1.0, 0.1, True),
    "balLR_C0.05": (1.0, 0.05, True),
    "balLR_C0.3": (1.0, 0.3, True),
    "char0.5": (0.5, 0.1, False),
    "calC0.1": (1.0, 0.1, False, 0.1),
    "calC10": (1.0, 0.1, False, 10.0),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tickets", type=Path, default=TICKETS)
    parser.add_argument("--with-seeds", metavar="DIR")
    parser.add_argument("--only", help="substring of task names to run")
    parser.add_argument("--variants", help="comma-separated variant names")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    variants = {k: v for k, v in VARIANTS.items()
                if not args.variants or k in args.variants.split(",")}
    tasks = real_tasks(args.tickets) + (seed_tasks(args.with_seeds) if args.with_seeds else [])
    for task in tasks:
        if args.only and args.only not in task.name:
            continue
        labels = sorted(task.frame["label"].unique())
        f1 = {name: [] for name in (*variants, "strong")}
        rec = {name: [] for name in (*variants, "strong")}
        for seed in range(args.seeds):
            train, test = train_test_split(task.frame, test_size=0.2,
                                           stratify=task.frame["label"], random_state=seed)
            keep, _ = _usable_rows(train["label"])
            fitted = {}
            for name, (cw, C, bal, *final_C) in variants.items():
                if cw not in fitted:
                    feats = features(cw)
                    Xtr = feats.fit_transform(train[list(model.FIELDS)])
                    fitted[cw] = (Xtr, feats.transform(test[list(model.FIELDS)]))
                Xtr, Xte = fitted[cw]
                ytr = train["label"].to_numpy(dtype=object)
                rows = np.flatnonzero(keep.to_numpy())
                clf = stack(C, bal, *final_C).fit(Xtr[rows], ytr[rows])
                pred = clf.predict(Xte)
                f1[name].append(f1_score(test["label"], pred, average="macro", zero_division=0))
                rec[name].append(recall_score(test["label"], pred, labels=labels, average=None,
                                              zero_division=0))
            pipe = baselines()["strong"]().fit(train.subject + " " + train.body, train["label"])
            pred = pipe.predict(test.subject + " " + test.body)
            f1["strong"].append(f1_score(test["label"], pred, average="macro", zero_division=0))
            rec["strong"].append(recall_score(test["label"], pred, labels=labels, average=None,
                                              zero_division=0))
        print(f"\n== {task.name}: {len(task.frame)} rows, {args.seeds} splits; "
              f"classes {dict(task.frame['label'].value_counts())}")
        strong = np.array(f1["strong"])
        for name, scores in f1.items():
            s = np.array(scores)
            d = s - strong
            r = np.mean(rec[name], axis=0)
            print(f"{name:14s} mean {s.mean():.4f}  splits "
                  + " ".join(f"{x:.4f}" for x in s)
                  + f"  | -strong {d.mean():+.4f} (sd {d.std(ddof=1) if len(d) > 1 else 0:.4f})"
                  + "  recall " + " ".join(f"{lab}={x:.2f}" for lab, x in zip(labels, r, strict=True)),
                  flush=True)


if __name__ == "__main__":
    main()
