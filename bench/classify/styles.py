"""Held-out writing styles: how the model does on a style of training_data/ it never saw.

    python bench/classify/styles.py [--training DIR]

For each group of files (terse, registers, the first house style), train on the other
files (folds grouped by file, as shipped) and predict the group. Printed per head:
accuracy, balanced accuracy, macro-F1, and the coverage and precision of the predictions
not flagged for review; then the mean over the three groups. This uses training_data/
alone, so a change meant to help on unseen styles can be chosen here without looking at
the foreign set or endava (quality.py --part transfer), which are for reporting only.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, f1_score

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from classifier import dataset, training

ROOT = Path(__file__).resolve().parents[2]
HEADS = ("type", "priority", "queue")
HELD_OUT = {"terse": ("seed_en_terse", "seed_es_terse"),
            "registers": ("seed_en_registers", "seed_es_registers"),
            "house": ("seed_en_a", "seed_en_b", "seed_es_es", "seed_es_latam")}
MEASURES = ("acc", "bal", "f1", "cov", "prec")


def held_out_style(frames: dict[str, pd.DataFrame], held: tuple[str, ...]) -> dict:
    """(head, measure) -> value, for a model trained on every file but `held`."""
    kept = [n for n in frames if n not in held]
    train = pd.concat([frames[n] for n in kept], ignore_index=True)
    groups = np.repeat(np.arange(len(kept)), [len(frames[n]) for n in kept])
    test = pd.concat([frames[n] for n in held], ignore_index=True)
    trained = training.train_frame(train, HEADS, groups=groups)
    preds = trained.predictor().predict(list(test["subject"]), list(test["body"]))
    return {(h, m): v for h in HEADS for m, v in _measures(test[h].to_numpy(), preds, h).items()}


def _measures(truth: np.ndarray, preds: list, head: str) -> dict[str, float]:
    labels = np.array([p[head].label for p in preds])
    passed = np.array([not p[head].needs_review for p in preds])
    hit = labels == truth
    return {"acc": hit.mean(), "bal": balanced_accuracy_score(truth, labels),
            "f1": f1_score(truth, labels, average="macro"), "cov": passed.mean(),
            "prec": hit[passed].mean() if passed.any() else float("nan")}


def _line(name: str, values: dict) -> str:
    return f"{name:9s} " + " | ".join(
        f"{h} " + " ".join(f"{m} {values[(h, m)]:.3f}" for m in MEASURES) for h in HEADS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training", type=Path, default=ROOT / "training_data")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    frames = {p.stem: dataset.load([str(p)]).frame
              for p in sorted(args.training.glob("seed_*.csv"))}
    results = []
    for name, held in HELD_OUT.items():
        results.append(held_out_style(frames, held))
        print(_line(name, results[-1]), flush=True)
    print(_line("mean", {k: float(np.mean([r[k] for r in results])) for k in results[0]}))


if __name__ == "__main__":
    main()
