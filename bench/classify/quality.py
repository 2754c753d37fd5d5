"""Quality of our pipeline against TF-IDF + LogisticRegression baselines on real tickets.

    python bench/classify/quality.py [--seeds 3] [--tickets DIR] [--with-seeds DIR]

Tasks (see shared/data/SOURCES.md): it_topics.csv Topic_group as the queue head,
endava_subset.csv ticket_type as the type head and urgency as the priority head.
Every model is trained and tested on the same stratified 80/20 splits (one per seed);
the table shows macro-F1 (mean and spread over splits) and per-class recall, plus the
coverage and precision our thresholds give on the held-out part. Baselines:
"plain" is TfidfVectorizer() + LogisticRegression() with defaults; "strong" uses word
1-2 grams, sublinear tf, min_df=2 and a balanced LogisticRegression(C=10).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from classifier import dataset, training

TICKETS = Path("/work/shared/data/tickets")


@dataclass
class Task:
    name: str
    head: str
    frame: pd.DataFrame  # subject, body, label


@dataclass
class Score:
    macro_f1: list[float] = field(default_factory=list)
    recall: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    coverage: list[float] = field(default_factory=list)
    precision: list[float] = field(default_factory=list)


def real_tasks(tickets: Path) -> list[Task]:
    topics = pd.read_csv(tickets / "it_topics.csv").dropna(subset=["Topic_group"])
    endava = pd.read_csv(tickets / "endava_subset.csv")
    text = pd.DataFrame({"subject": endava["title"].fillna(""), "body": endava["body"].fillna("")})
    return [
        Task("it_topics queue", "queue", pd.DataFrame(
            {"subject": "", "body": topics["Document"].fillna(""),
             "label": topics["Topic_group"].astype(str)})),
        Task("endava ticket_type", "type", text.assign(label=endava["ticket_type"].astype(str))),
        Task("endava urgency", "priority", text.assign(label=endava["urgency"].astype(str))),
    ]


def seed_tasks(path: str) -> list[Task]:
    data = dataset.load([path])
    tasks = []
    for head in data.heads:
        rows = data.frame[data.labelled(head)]
        tasks.append(Task(f"seeds {head}", head, rows[["subject", "body"]].assign(
            label=rows[head]).reset_index(drop=True)))
    return tasks


def baselines() -> dict:
    return {
        "plain": lambda: make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)),
        "strong": lambda: make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
            LogisticRegression(C=10, class_weight="balanced", max_iter=2000)),
    }


def run_split(task: Task, seed: int, scores: dict[str, Score], labels: list[str]) -> None:
    train, test = train_test_split(task.frame, test_size=0.2, stratify=task.frame["label"],
                                   random_state=seed)
    started = time.perf_counter()
    trained = training.train_frame(train.assign(**{task.head: train["label"]}), (task.head,))
    model = trained.predictor()
    predictions = [p[task.head] for p in model.predict(list(test.subject), list(test.body))]
    _record(scores["ours"], test["label"], [p.label for p in predictions], labels, started)
    kept = [p for p, y in zip(predictions, test["label"], strict=True) if not p.needs_review]
    hits = [p.label == y for p, y in zip(predictions, test["label"], strict=True)
            if not p.needs_review]
    scores["ours"].coverage.append(len(kept) / len(test))
    scores["ours"].precision.append(float(np.mean(hits)) if hits else float("nan"))
    for name, build in baselines().items():
        started = time.perf_counter()
        pipe = build().fit(train.subject + " " + train.body, train["label"])
        _record(scores[name], test["label"], pipe.predict(test.subject + " " + test.body),
                labels, started)


def _record(score: Score, y_true, y_pred, labels: list[str], started: float) -> None:
    score.seconds += time.perf_counter() - started
    score.macro_f1.append(f1_score(y_true, y_pred, average="macro", zero_division=0))
    recalls = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    score.recall.append(dict(zip(labels, recalls, strict=True)))


def report(task: Task, scores: dict[str, Score], labels: list[str], seeds: int) -> None:
    counts = task.frame["label"].value_counts()
    print(f"\n== {task.name}: {len(task.frame)} rows, {len(labels)} classes, {seeds} splits")
    print(f"{'model':8s} {'macro-F1':>9s} {'(sd)':>7s} {'train s':>8s}  per-class recall")
    for name, s in scores.items():
        recall = "  ".join(f"{lab}={np.mean([r[lab] for r in s.recall]):.2f}" for lab in labels)
        print(f"{name:8s} {np.mean(s.macro_f1):9.4f} {np.std(s.macro_f1):7.4f} "
              f"{s.seconds / seeds:8.1f}  {recall}")
    ours = scores["ours"]
    print(f"ours at its threshold on held-out rows: coverage {np.mean(ours.coverage):.3f}, "
          f"precision {np.nanmean(ours.precision):.3f} (target 0.90)")
    print("class sizes: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    delta = np.mean(ours.macro_f1) - np.mean(scores["strong"].macro_f1)
    print(f"ours - strong baseline macro-F1: {delta:+.4f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="number of stratified splits")
    parser.add_argument("--tickets", type=Path, default=TICKETS)
    parser.add_argument("--with-seeds", metavar="DIR", help="also score the project's seed data")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    tasks = real_tasks(args.tickets) + (seed_tasks(args.with_seeds) if args.with_seeds else [])
    for task in tasks:
        labels = sorted(task.frame["label"].unique())
        scores = {name: Score() for name in ("ours", *baselines())}
        for seed in range(args.seeds):
            run_split(task, seed, scores, labels)
        report(task, scores, labels, args.seeds)


if __name__ == "__main__":
    main()
