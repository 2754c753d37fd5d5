"""Model variants against the plain baseline on quality.py's many-teams splits.

    python bench/classify/variants.py [--only SET] [--variants a,b,...]

Each variant is a text-to-label scikit-learn pipeline fitted on the training part of the
same 25 % split quality.py uses; only macro-F1 and the largest per-class recall drop
against the baseline are printed, so variants of the decision rule can be compared fast.
Nothing here touches the foreign set or endava ticket_type.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, recall_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from classify.quality import SPLIT_SEED, TICKETS, baseline, many_team_sets

from classifier.features import TextFieldVectorizer


def joined(**kw) -> ColumnTransformer:
    """Our vectorizer on subject + body as one text (the columns of a row are joined)."""
    return ColumnTransformer([("text", TextFieldVectorizer(**kw), ["subject", "body"])])


def joined_and_subject(**kw) -> ColumnTransformer:
    return ColumnTransformer([("text", TextFieldVectorizer(**kw), ["subject", "body"]),
                              ("subject", TextFieldVectorizer(**kw), ["subject"])])


def split_fields(**kw) -> ColumnTransformer:
    return ColumnTransformer([(f, TextFieldVectorizer(**kw), [f]) for f in ("subject", "body")])


def _svm(C: float = 1.0):
    return LinearSVC(C=C, class_weight="balanced")


VARIANTS = {
    "fields_c34_C0.1": lambda: make_pipeline(split_fields(), _svm(0.1)),
    "fields_c34_C1": lambda: make_pipeline(split_fields(), _svm()),
    "joined_c25_C1": lambda: make_pipeline(joined(char_ngrams=(2, 5)), _svm()),
    "joined_c25_df1_C1": lambda: make_pipeline(joined(char_ngrams=(2, 5), min_df=1, max_df=1.0),
                                               _svm()),
    "joined_c25_df1_C0.5": lambda: make_pipeline(
        joined(char_ngrams=(2, 5), min_df=1, max_df=1.0), _svm(0.5)),
    "joined_c25_df1_wdf2_C0.5": lambda: make_pipeline(
        joined(char_ngrams=(2, 5), min_df=1, max_df=1.0, word_min_df=2), _svm(0.5)),
    "joined_c25_df1_C0.3": lambda: make_pipeline(
        joined(char_ngrams=(2, 5), min_df=1, max_df=1.0), _svm(0.3)),
    "joined_c26_df1_C0.5": lambda: make_pipeline(
        joined(char_ngrams=(2, 6), min_df=1, max_df=1.0), _svm(0.5)),
    "joined_c25_df1_CS_C0.5": lambda: make_pipeline(
        joined(char_ngrams=(2, 5), min_df=1, max_df=1.0),
        LinearSVC(C=0.5, class_weight="balanced", multi_class="crammer_singer")),
    "joined_c25_df1_cw0.6_C0.5": lambda: make_pipeline(
        joined(char_ngrams=(2, 5), min_df=1, max_df=1.0, char_weight=0.6), _svm(0.5)),
    "joined_c25_df1_cw1.5_C0.5": lambda: make_pipeline(
        joined(char_ngrams=(2, 5), min_df=1, max_df=1.0, char_weight=1.5), _svm(0.5)),
    "joined_c25_df1_hinge_C0.5": lambda: make_pipeline(
        joined(char_ngrams=(2, 5), min_df=1, max_df=1.0),
        LinearSVC(C=0.5, class_weight="balanced", loss="hinge", max_iter=5000)),
    "joined_c15_df1_C0.5": lambda: make_pipeline(
        joined(char_ngrams=(1, 5), min_df=1, max_df=1.0), _svm(0.5)),
    "joined_c34_C0.5": lambda: make_pipeline(joined(), _svm(0.5)),
    "baseline": lambda: baseline(),
    "joined_c25_C0.5": lambda: make_pipeline(joined(char_ngrams=(2, 5)), _svm(0.5)),
    "joined+subj_c25_C1": lambda: make_pipeline(joined_and_subject(char_ngrams=(2, 5)), _svm()),
    "joined_c34_C1": lambda: make_pipeline(joined(), _svm()),
    "baseline_sublinear": lambda: make_pipeline(make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)), _svm()),
    "baseline_logreg_C20": lambda: make_pipeline(make_union(
        TfidfVectorizer(ngram_range=(1, 2)),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5))),
        LogisticRegression(C=20, class_weight="balanced", max_iter=3000)),
}


def cross_validate(name: str, train, chosen: list[str]) -> None:
    """Macro-F1 of each variant over 3 stratified folds of the training part alone."""
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(train, train["label"]))
    print(f"\n== {name}: 3-fold CV on {len(train)} training rows", flush=True)
    for variant in chosen:
        started, scores = time.perf_counter(), []
        for fit, held in folds:
            a, b = train.iloc[fit], train.iloc[held]
            if variant.startswith("baseline"):
                a, b = a["subject"] + " " + a["body"], b["subject"] + " " + b["body"]
            pred = VARIANTS[variant]().fit(a, train["label"].iloc[fit]).predict(b)
            scores.append(f1_score(train["label"].iloc[held], pred, average="macro",
                                   zero_division=0))
        print(f"{variant:22s} {np.mean(scores):.4f} (folds " + " ".join(f"{x:.4f}" for x in scores)
              + f")  {time.perf_counter() - started:5.1f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=Path, default=TICKETS)
    parser.add_argument("--only", help="comma-separated set names")
    parser.add_argument("--variants", help="comma-separated variant names")
    parser.add_argument("--cv", action="store_true",
                        help="3-fold CV inside the training part instead of the test split")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    chosen = args.variants.split(",") if args.variants else list(VARIANTS)
    for name, frame in many_team_sets(args.tickets).items():
        if args.only and name not in args.only.split(","):
            continue
        train, test = train_test_split(frame, test_size=0.25, stratify=frame["label"],
                                       random_state=SPLIT_SEED)
        if args.cv:
            cross_validate(name, train, chosen)
            continue
        labels = sorted(frame["label"].unique())
        text = lambda f: f["subject"] + " " + f["body"]  # noqa: E731
        base = baseline().fit(text(train), train["label"]).predict(text(test))
        f_base = f1_score(test["label"], base, average="macro", zero_division=0)
        r_base = recall_score(test["label"], base, labels=labels, average=None, zero_division=0)
        print(f"\n== {name}: baseline {f_base:.4f}", flush=True)
        for variant in chosen:
            started = time.perf_counter()
            X, Xt = (text(train), text(test)) if variant.startswith("baseline") else (train, test)
            pred = VARIANTS[variant]().fit(X, train["label"]).predict(Xt)
            f = f1_score(test["label"], pred, average="macro", zero_division=0)
            r = recall_score(test["label"], pred, labels=labels, average=None, zero_division=0)
            print(f"{variant:22s} {f:.4f} ({f - f_base:+.4f})  worst recall drop "
                  f"{np.max(r_base - r):+.2f}  {time.perf_counter() - started:5.1f} s", flush=True)


if __name__ == "__main__":
    main()
