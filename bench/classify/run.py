"""Classifier benchmark: training time, batch throughput, single-message latency, peak RSS.

    python bench/classify/run.py [--rows 20000] [--predict 10000] [--singles 1000]

Each side runs in its own child process, so peak RSS (resource.getrusage) belongs to it:
"ours" is the full `triaje train` path (features, cross-validated thresholds for every
head, calibrated final fit, artefact written) in one child, then, as the daemon does, a
second child that only loads the artefact and runs `TriageModel.predict` (its peak RSS
is the daemon's figure, target < 300 MB); "reference" is
a plain TfidfVectorizer + LogisticRegression pipeline per head, fitted once, timed in the
same run on the same rows. Training rows are real tickets (it_topics, endava) and the
project's seed rows, resampled with replacement to --rows with small typos added.
Targets: >= 2,000 messages/s, p99 < 20 ms, training 20,000 rows < 120 s on 2 cores.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TICKETS = Path("/work/shared/data/tickets")
HEADS = ("type", "priority", "queue")


def real_rows(tickets: Path, seeds: Path) -> pd.DataFrame:
    topics = pd.read_csv(tickets / "it_topics.csv").dropna(subset=["Topic_group"])
    endava = pd.read_csv(tickets / "endava_subset.csv")
    parts = [
        pd.DataFrame({"subject": "", "body": topics["Document"].fillna(""),
                      "queue": topics["Topic_group"]}),
        pd.DataFrame({"subject": endava["title"].fillna(""), "body": endava["body"].fillna(""),
                      "type": "endava_" + endava["ticket_type"].astype(str),
                      "priority": "urgency_" + endava["urgency"].astype(str)}),
    ]
    seed_files = sorted(seeds.glob("*.csv")) if seeds.is_dir() else []
    for path in seed_files:
        try:
            parts.append(pd.read_csv(path, dtype=str, keep_default_na=False))
        except (pd.errors.ParserError, UnicodeDecodeError):
            continue  # a seed file someone is still writing
    frame = pd.concat(parts, ignore_index=True)
    return frame[["subject", "body", *HEADS]].fillna("")


def typo(text: str, rng: random.Random) -> str:
    """One small slip: two letters swapped, one dropped, or one word left out."""
    words = text.split()
    if len(words) < 2:
        return text
    i = rng.randrange(len(words))
    word, kind = words[i], rng.randrange(3)
    if kind == 0 and len(word) > 3:
        j = rng.randrange(len(word) - 1)
        words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2:]
    elif kind == 1 and len(word) > 3:
        j = rng.randrange(len(word))
        words[i] = word[:j] + word[j + 1:]
    else:
        del words[i]
    return " ".join(words)


def resample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    sample = frame.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    sample["body"] = [typo(b, rng) if rng.random() < 0.7 else b for b in sample["body"]]
    return sample


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


DAEMON_BATCH = 200  # pipeline.process.runner.BATCH: the daemon classifies 200 mails at a time


def _timings(predict_batch, predict_one, subjects, bodies, singles: int) -> dict:
    started = time.perf_counter()
    for i in range(0, len(subjects), DAEMON_BATCH):
        predict_batch(subjects[i:i + DAEMON_BATCH], bodies[i:i + DAEMON_BATCH])
    throughput = len(subjects) / (time.perf_counter() - started)
    latencies = []
    for i in range(singles):
        started = time.perf_counter()
        predict_one(subjects[i], bodies[i])
        latencies.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(latencies, n=100)
    return {"throughput": throughput, "p50": statistics.median(latencies), "p99": cuts[98]}


def run_train(csv: str, out: str) -> dict:
    from classifier import training

    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    manifest = training.train_from_paths([csv], out)
    train_s = time.perf_counter() - started
    heads = {h: i["metrics"]["macro_f1"] for h, i in manifest["heads"].items()}
    return {"train": train_s, "rss_train": _peak_rss_mb(), "heads": heads,
            "size_mb": manifest["artefact"]["bytes"] / 1e6}


def run_daemon(out: str, subjects, bodies, singles: int) -> dict:
    """What the daemon does with a model: load it once, then classify batches and singles."""
    from classifier import artefact

    warnings.filterwarnings("ignore")
    model = artefact.load_model(out)
    result = _timings(model.predict, lambda s, b: model.predict([s], [b]), subjects, bodies,
                      singles)
    return {**result, "rss": _peak_rss_mb()}


def run_reference(csv: str, subjects, bodies, singles: int) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    pipes = {}
    for head in HEADS:
        rows = frame[frame[head] != ""]
        pipes[head] = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(
            rows["subject"] + " " + rows["body"], rows[head])
    train_s = time.perf_counter() - started

    def batch(subs, bods):
        texts = [f"{s} {b}" for s, b in zip(subs, bods, strict=True)]
        return {h: p.predict_proba(texts) for h, p in pipes.items()}

    result = _timings(batch, lambda s, b: batch([s], [b]), subjects, bodies, singles)
    rss = _peak_rss_mb()
    return {**result, "train": train_s, "rss": rss, "rss_train": rss}


def in_child(function, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(function, args)


def table(ours: dict, ref: dict, rows: int, predicted: int) -> str:
    lines = [f"{'metric':34s} {'ours':>10s} {'reference':>10s} {'ours/ref':>9s}  target"]
    spec = [
        (f"train {rows} rows, s", "train", "< 120"),
        (f"predict {predicted} msgs, msgs/s", "throughput", ">= 2000"),
        ("single message p50, ms", "p50", ""),
        ("single message p99, ms", "p99", "< 20"),
        ("peak RSS while training, MB", "rss_train", ""),
        ("daemon peak RSS (load + predict), MB", "rss", "< 300"),
    ]
    for label, key, target in spec:
        lines.append(f"{label:34s} {ours[key]:10.1f} {ref[key]:10.1f} "
                     f"{ours[key] / ref[key]:9.2f}  {target}")
    lines.append(f"model artefact: {ours['size_mb']:.1f} MB; cross-validated macro-F1 "
                 + ", ".join(f"{h}={f:.3f}" for h, f in ours["heads"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--predict", type=int, default=10_000)
    parser.add_argument("--singles", type=int, default=1_000)
    parser.add_argument("--tickets", type=Path, default=TICKETS)
    parser.add_argument("--seeds", type=Path, default=ROOT / "training_data")
    args = parser.parse_args(argv)
    pool = real_rows(args.tickets, args.seeds)
    train = resample(pool, args.rows, seed=0)
    test = resample(pool, args.predict, seed=1)
    subjects, bodies = list(test["subject"]), list(test["body"])
    with tempfile.TemporaryDirectory() as tmp:
        csv = str(Path(tmp) / "bench.csv")
        train.to_csv(csv, index=False)
        counts = {h: int((train[h] != "").sum()) for h in HEADS}
        print(f"{args.rows} training rows (labelled: {counts}), {len(pool)} distinct sources")
        out = str(Path(tmp) / "model")
        ours = in_child(run_train, csv, out)
        ours |= in_child(run_daemon, out, subjects, bodies, args.singles)
        ref = in_child(run_reference, csv, subjects, bodies, args.singles)
    print(table(ours, ref, args.rows, args.predict))


if __name__ == "__main__":
    main()
