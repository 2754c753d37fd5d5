"""Quality of triaje's classifier: many teams against a plain baseline, and transfer.

    python bench/classify/quality.py [--part many|transfer|all] [--tickets DIR]
                                     [--training DIR] [--foreign DIR]

many: the four many-teams sets of issue 12 (endava business_service, sub_category2,
sub_category1 and it_topics Topic_group as the queue head; classes with at least 5 rows;
one 25 % stratified test split, random_state=20261123). Both models see the same split.
The baseline is word 1-2 plus char_wb 2-5 TF-IDF of subject + body and
LinearSVC(class_weight="balanced") at default C. Printed per set: macro-F1 of both, the
difference, the largest per-class recall drop (and how many classes drop more than 0.10),
and triaje's coverage and precision above its threshold on the test rows.

transfer: the model trained on training_data/ alone, scored on tests/data/foreign/ (never
trained or tuned on) per head, and on all of endava as ticket_type (0 -> incident,
1 -> service_request or inquiry), where the classes are 576 and 4,855 rows, so balanced
accuracy is the mean of the two recalls. Precision is counted over predictions not
flagged for review, and the reasons for review are tallied.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from classifier import dataset, training
from classifier.evaluation import predict_all

ROOT = Path(__file__).resolve().parents[2]
TICKETS = Path("/work/shared/data/tickets")
SPLIT_SEED = 20261123
MIN_ROWS = 5
MANY_TEAMS = (("endava", "business_service"), ("endava", "sub_category2"),
              ("endava", "sub_category1"), ("it_topics", "Topic_group"))


def many_team_sets(tickets: Path) -> dict[str, pd.DataFrame]:
    """name -> frame of subject, body, label; classes under MIN_ROWS rows left out."""
    endava = pd.read_csv(tickets / "endava_subset.csv")
    topics = pd.read_csv(tickets / "it_topics.csv").dropna(subset=["Topic_group"])
    sources = {
        "endava": pd.DataFrame({"subject": endava["title"].fillna(""),
                                "body": endava["body"].fillna("")}),
        "it_topics": pd.DataFrame({"subject": "", "body": topics["Document"].fillna("")}),
    }
    labels = {"endava": endava, "it_topics": topics}
    sets = {}
    for source, column in MANY_TEAMS:
        frame = sources[source].assign(label=labels[source][column].astype(str).to_numpy())
        counts = frame["label"].value_counts()
        sets[column] = frame[frame["label"].isin(counts[counts >= MIN_ROWS].index)]
    return sets


def baseline():
    features = make_union(TfidfVectorizer(ngram_range=(1, 2)),
                          TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)))
    return make_pipeline(features, LinearSVC(class_weight="balanced"))


def many_teams(tickets: Path) -> list[dict]:
    rows = []
    for name, frame in many_team_sets(tickets).items():
        train, test = train_test_split(frame, test_size=0.25, stratify=frame["label"],
                                       random_state=SPLIT_SEED)
        labels = sorted(frame["label"].unique())
        text = lambda f: (f["subject"] + " " + f["body"]).to_list()  # noqa: E731
        started = time.perf_counter()
        base = baseline().fit(text(train), train["label"]).predict(text(test))
        base_s = time.perf_counter() - started
        started = time.perf_counter()
        trained = training.train_frame(train.assign(queue=train["label"]), ("queue",))
        preds = [p["queue"] for p in trained.predictor().predict(list(test.subject),
                                                                  list(test.body))]
        ours_s = time.perf_counter() - started
        rows.append(_compare(name, test["label"], base, preds, labels, base_s, ours_s))
        _print_many(rows[-1])
    mean = np.mean([r["ours"] - r["base"] for r in rows])
    print(f"\nmean over {len(rows)} sets: triaje - baseline macro-F1 {mean:+.4f} "
          "(required >= -0.005 per set, target +0.02 on the mean)")
    return rows


def _compare(name, y, base, preds, labels, base_s, ours_s) -> dict:
    ours = [p.label for p in preds]
    r_base = recall_score(y, base, labels=labels, average=None, zero_division=0)
    r_ours = recall_score(y, ours, labels=labels, average=None, zero_division=0)
    drops = r_base - r_ours
    kept = np.array([not p.needs_review for p in preds])
    hits = np.array(ours, dtype=object) == y.to_numpy(dtype=object)
    return {
        "set": name, "classes": len(labels), "test": len(y),
        "base": f1_score(y, base, average="macro", zero_division=0),
        "ours": f1_score(y, ours, average="macro", zero_division=0),
        "worst_drop": float(drops.max()), "worst_class": labels[int(drops.argmax())],
        "drops_over_0.10": int((drops > 0.10 + 1e-9).sum()),
        "coverage": float(kept.mean()),
        "precision": float(hits[kept].mean()) if kept.any() else float("nan"),
        "seconds": (base_s, ours_s),
    }


def _print_many(r: dict) -> None:
    print(f"{r['set']:17s} {r['classes']:3d} classes {r['test']:5d} test rows | baseline "
          f"{r['base']:.4f} triaje {r['ours']:.4f} ({r['ours'] - r['base']:+.4f}) | worst "
          f"recall drop {r['worst_drop']:+.2f} ({r['worst_class']}), {r['drops_over_0.10']} "
          f"over 0.10 | coverage {r['coverage']:.3f} precision {r['precision']:.3f} | fit+predict"
          f" s: baseline {r['seconds'][0]:.1f}, triaje {r['seconds'][1]:.1f}", flush=True)


def transfer(training_dir: Path, foreign_dir: Path, tickets: Path) -> None:
    started = time.perf_counter()
    data = dataset.load([str(training_dir)])
    model = training.train_frame(data.frame, data.heads,
                                 groups=training.source_groups(data)).predictor()
    print(f"\ntrained on {training_dir} ({len(data.frame)} rows) in "
          f"{time.perf_counter() - started:.1f} s")
    foreign = dataset.load([str(foreign_dir)]).frame
    preds = predict_all(model, list(foreign.subject), list(foreign.body))
    for head in model.heads:
        _print_transfer(f"foreign {head}", foreign[head], [p[head] for p in preds],
                        sorted(set(foreign[head])))
    endava = pd.read_csv(tickets / "endava_subset.csv")
    preds = predict_all(model, list(endava.title.fillna("")), list(endava.body.fillna("")))
    as_request = {"service_request": "request", "inquiry": "request"}
    truth = endava["ticket_type"].map({0: "incident", 1: "request"})
    mapped = [_mapped(p["type"], as_request) for p in preds]
    _print_transfer("endava ticket_type", truth, mapped, ["incident", "request"])
    print("endava type labels predicted: "
          + ", ".join(f"{k}={v}" for k, v in Counter(p["type"].label for p in preds).items()))


def _mapped(prediction, mapping: dict):
    label = mapping.get(prediction.label, prediction.label)
    return type(prediction)(**{**prediction.__dict__, "label": label})


def _print_transfer(name: str, y: pd.Series, preds: list, labels: list[str]) -> None:
    y = y.to_numpy(dtype=object)
    guess = np.array([p.label for p in preds], dtype=object)
    kept = np.array([not p.needs_review for p in preds])
    recalls = recall_score(y, guess, labels=labels, average=None, zero_division=0)
    reasons = Counter(getattr(p, "reason", None) or "-" for p in preds if p.needs_review)
    print(f"{name:19s} n={len(y):5d} accuracy {np.mean(guess == y):.3f} macro-F1 "
          f"{f1_score(y, guess, labels=labels, average='macro', zero_division=0):.3f} "
          f"balanced-acc {np.mean(recalls):.3f} | not reviewed: coverage {kept.mean():.3f} "
          f"precision {np.mean(guess[kept] == y[kept]) if kept.any() else float('nan'):.3f}"
          f" | review reasons {dict(reasons)}")
    print("    recall " + " ".join(f"{lab}={r:.2f}" for lab, r in zip(labels, recalls, strict=True)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("many", "transfer", "all"), default="all")
    parser.add_argument("--tickets", type=Path, default=TICKETS)
    parser.add_argument("--training", type=Path, default=ROOT / "training_data")
    parser.add_argument("--foreign", type=Path, default=ROOT / "tests" / "data" / "foreign")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.part in ("many", "all"):
        many_teams(args.tickets)
    if args.part in ("transfer", "all"):
        transfer(args.training, args.foreign, args.tickets)


if __name__ == "__main__":
    main()
