"""Retraining with a guarantee: a candidate goes into service only if it is not worse.

The candidate learns from the seed set plus the labels people collected. Both it and the
model in service are then scored (macro-F1 per head) on the same held-out rows: the most
recent labelled messages, which neither model trained on (too few of them: a fixed,
hash-chosen share of the seed set, left out of the candidate's training). The candidate is
installed only when no head gets worse by more than `[tracking] promote_margin` (or, with
`promote_on = "mean"`, when the mean does not), so a bad batch of labels cannot put a
worse model in service.
"""

from __future__ import annotations

import hashlib
import logging
import math
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.triggers.cron import CronTrigger

from pipeline import leases
from pipeline.config import Config
from pipeline.db import as_utc
from pipeline.errors import DataError
from pipeline.resources import bundled_path
from pipeline.services import Services
from pipeline.tracking import labelcsv, modelstore

LEADER = "leader"  # the lease of the daemon that runs the run-once jobs (ingest/ownership.py)

if TYPE_CHECKING:  # pandas and scikit-learn load with the work, not with the daemon
    import pandas as pd

log = logging.getLogger("triaje.retrain")
HEADS = ("type", "priority", "queue")
SEED_HOLDOUT = 0.2
# Which file a training row came from ("labels": the desk's own labels). The candidate is
# trained from one CSV per source, so with 3+ sources its thresholds come from folds of
# whole files, as the shipped model's do (classifier/training.py); from one merged CSV
# every style was in every fold and the candidate's thresholds promised more off-domain.
SOURCE = "source"
LABELS_SOURCE = "labels"
Say = Callable[[str], None]


def seed_paths() -> list[str]:
    return [str(bundled_path("pipeline.training_data"))]


def split(config: Config, engine, data_paths: list[str],
          current: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(training rows, held-out rows, where the held-out rows come from). The held-out rows
    are ones neither model trained on: the candidate never gets them, and the model in
    service (`current`, its manifest) must not have had them either: labels made after it
    was trained, else the seed rows if it never saw the seed files. With neither, the
    held-out frame is empty and the source says why."""
    import pandas as pd  # deferred: pandas loads with the work, not with the daemon

    from classifier import dataset  # deferred: pandas

    data = dataset.load(data_paths)
    seed = data.frame.assign(**{SOURCE: _source_names(data)})
    rows = labelcsv.labelled_rows(engine)
    labelled = pd.DataFrame(rows, columns=["subject", "body", "language", *HEADS])
    labelled[SOURCE] = LABELS_SOURCE
    trained_at = _created(current)
    unseen = [i for i, row in enumerate(rows) if _unseen(row, trained_at)]
    tracking = config.tracking
    size = max(tracking.min_holdout, math.floor(len(rows) * tracking.holdout_fraction))
    if len(unseen) >= tracking.min_holdout:
        held = set(unseen[-size:])
        mask = [i in held for i in range(len(rows))]
        return pd.concat([seed, labelled[[not m for m in mask]]], ignore_index=True).fillna(""), \
            labelled[mask].drop(columns=SOURCE).reset_index(drop=True), "labels"
    if current is not None and _saw_seed(current, data):
        return pd.concat([seed, labelled], ignore_index=True).fillna(""), labelled.iloc[:0], \
            f"none: the model in service was trained on the seed rows and on every label " \
            f"made before {current.get('created', '?')}"
    held = seed.apply(lambda r: _bucket(r["subject"], r["body"]) < SEED_HOLDOUT, axis=1)
    return pd.concat([seed[~held], labelled], ignore_index=True).fillna(""), \
        seed[held].drop(columns=SOURCE).reset_index(drop=True), "seed"


def _source_names(data: Any) -> list[str]:
    """Each seed row's file name, in the order `dataset.load` concatenated them."""
    return [Path(s.path).name for s in data.sources for _ in range(s.rows)]


def _created(current: dict | None) -> datetime | None:
    """When the model in service was trained (None: no model in service)."""
    if current is None:
        return None
    return datetime.fromisoformat(str(current.get("created", "")).replace("Z", "+00:00"))


def _unseen(row: dict[str, Any], trained_at: datetime | None) -> bool:
    if trained_at is None:
        return True
    labelled_at = row.get("labelled_at")
    return labelled_at is not None and as_utc(labelled_at) > trained_at


def _saw_seed(current: dict, data: Any) -> bool:
    trained_on = {f.get("sha256") for f in current.get("data", {}).get("files", [])}
    return any(source.sha256 in trained_on for source in data.sources)


def _bucket(subject: str, body: str) -> float:
    digest = hashlib.sha256(f"{subject}\x00{body}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def scores(model: Any, holdout: pd.DataFrame) -> dict[str, float]:
    """Macro-F1 per head over the held-out rows labelled for that head."""
    from sklearn.metrics import f1_score  # deferred: scikit-learn

    predicted = model.predict(list(holdout["subject"]), list(holdout["body"]))
    result = {}
    for head in model.heads:
        if head not in holdout:
            continue
        rows = [i for i, label in enumerate(holdout[head]) if label]
        if rows:
            truth = [holdout[head].iloc[i] for i in rows]
            guess = [predicted[i][head].label for i in rows]
            result[head] = float(f1_score(truth, guess, average="macro", zero_division=0))
    return result


def decide(candidate: dict[str, float], current: dict[str, float] | None, margin: float,
           rule: str) -> tuple[bool, str]:
    """Whether the candidate may replace the current model, and why."""
    if current is None:
        return True, "no model in service"
    missing = sorted(set(current) - set(candidate))
    if missing:
        return False, f"the candidate has no {', '.join(missing)} head"
    heads = sorted(current)
    if not heads:
        return False, "no held-out labels to compare the models on"
    if rule == "mean":
        new, old = _mean(candidate, heads), _mean(current, heads)
        return (new >= old - margin,
                f"mean macro-F1 {new:.3f} against {old:.3f} (margin {margin:.3f})")
    worse = [h for h in heads if candidate[h] < current[h] - margin]
    if worse:
        return False, "worse on " + ", ".join(
            f"{h} ({candidate[h]:.3f} < {current[h]:.3f} - {margin:.3f})" for h in worse)
    return True, f"no head worse than the model in service by more than {margin:.3f}"


def _mean(values: dict[str, float], heads: list[str]) -> float:
    return sum(values[h] for h in heads) / len(heads)


def retrain(env: Services, data_paths: list[str] | None = None, author: str = "retrain",
            say: Say = log.info) -> dict[str, Any]:
    """Train, compare, and install the candidate only when it is not worse."""
    from classifier import artefact  # deferred: scikit-learn loads only when a command needs the model

    config, models_dir = env.config, env.config.classifier.models_dir
    current_version = modelstore.in_service(env.engine, models_dir)
    manifest = artefact.read_manifest(Path(models_dir) / current_version) if current_version else None
    train, holdout, source = split(config, env.engine, data_paths or seed_paths(), manifest)
    if holdout.empty and source.startswith("none"):
        return _not_comparable(env, config, source, current_version, author, say)
    if holdout.empty:
        raise DataError("no held-out rows to evaluate on; add labelled data")
    say(f"training the candidate on {len(train)} rows; {len(holdout)} held-out rows ({source})")
    with tempfile.TemporaryDirectory(prefix="triaje-retrain-") as tmp:
        candidate = _train(config, train, Path(tmp))
        current = artefact.load_model(Path(models_dir) / current_version) if current_version else None
        result = _compare(config, candidate, current, holdout, source, len(train))
        if result["promoted"]:
            artefact.install(Path(tmp) / "candidate", models_dir)
    modelstore.record(env.engine, "retrain", result["in_service"], current_version, author, result)
    if result["promoted"]:
        env.model = candidate
    return result


def _not_comparable(env: Services, config: Config, source: str, current_version: str | None,
                    author: str, say: Say) -> dict[str, Any]:
    """No rows neither model saw: say so, and what would make a fair comparison possible."""
    minimum = config.tracking.min_holdout
    reason = (f"cannot compare fairly, no held-out rows ({source.removeprefix('none: ')}); "
              f"label at least {minimum} more messages (triaje review, or labels import) and "
              "retrain, or install a model you trust with `triaje train --install`")
    say(reason)
    result = {"promoted": False, "reason": reason, "rule": config.tracking.promote_on,
              "margin": config.tracking.promote_margin, "holdout": {"source": "none", "rows": 0},
              "training_rows": 0, "candidate": None, "current": {"version": current_version},
              "in_service": current_version}
    modelstore.record(env.engine, "retrain", current_version, current_version, author, result)
    return result


def _train(config: Config, train: pd.DataFrame, tmp: Path) -> Any:
    from classifier import (  # deferred: scikit-learn loads only when a command needs the model
        artefact,
        training,
    )

    training.train_from_paths(source_files(train, tmp), tmp / "candidate",
                              config.classifier.target_precision)
    return artefact.load_model(tmp / "candidate")


def source_files(train: pd.DataFrame, folder: Path) -> list[str]:
    """The training rows written as one CSV per source (seed file, or the desk's labels),
    in order: training groups its folds by file, as it does for the shipped model."""
    columns = ["subject", "body", "language", *[h for h in HEADS if h in train]]
    sources = train[SOURCE] if SOURCE in train else [LABELS_SOURCE] * len(train)
    paths = []
    for n, (_, rows) in enumerate(train.groupby(sources, sort=False)):
        path = folder / f"train_{n:02d}.csv"
        rows[columns].to_csv(path, index=False)
        paths.append(str(path))
    return paths


def _compare(config: Config, candidate: Any, current: Any | None, holdout: pd.DataFrame,
             source: str, train_rows: int) -> dict[str, Any]:
    tracking = config.tracking
    new = scores(candidate, holdout)
    old = scores(current, holdout) if current is not None else None
    promoted, reason = decide(new, old, tracking.promote_margin, tracking.promote_on)
    return {
        "promoted": promoted, "reason": reason, "rule": tracking.promote_on,
        "margin": tracking.promote_margin,
        "holdout": {"source": source, "rows": len(holdout)}, "training_rows": train_rows,
        "candidate": {"version": candidate.version, "macro_f1": new, "mean": _mean_or_none(new)},
        "current": None if current is None else {
            "version": current.version, "macro_f1": old, "mean": _mean_or_none(old or {})},
        "in_service": candidate.version if promoted else (current.version if current else None),
    }


def _mean_or_none(values: dict[str, float]) -> float | None:
    return sum(values.values()) / len(values) if values else None


Job = tuple[Callable[[], None], dict[str, Any]]


def scheduled_jobs(env: Services, watch_model: bool = True) -> list[Job]:
    """The daemon's tracking jobs: retrain and the report mail on their cron schedules, and
    a watch that loads a model another process put in service (`triaje model promote`);
    a daemon whose worker processes classify leaves that watch to them."""
    tracking, zone = env.config.tracking, env.config.desk.timezone
    jobs: list[Job] = [
        (lambda: reload_if_changed(env), {"trigger": "interval", "seconds": 60,
                                          "id": "model-watch"})] if watch_model else []
    if tracking.retrain_schedule:
        jobs.append((lambda: _as_leader(retrain, env), {
            "trigger": CronTrigger.from_crontab(tracking.retrain_schedule, timezone=zone),
            "id": "retrain"}))
    if tracking.report_schedule and tracking.report_recipients:
        jobs.append((lambda: _as_leader(_mail_report, env), {
            "trigger": CronTrigger.from_crontab(tracking.report_schedule, timezone=zone),
            "id": "report"}))
    return jobs


def _mail_report(env: Services) -> None:
    from pipeline.tracking import report  # deferred: pandas and matplotlib

    report.mail_report(env.engine, env.config)


def _as_leader(job: Callable[[Services], Any], env: Services) -> None:
    """Retrain (and its promotion) and the report mail run once across all daemons: in the
    one holding the leader lease, which its heartbeat renews (ingest/ownership.py)."""
    try:
        leading = leases.acquire(env.engine, LEADER, env.instance)
    except Exception:
        log.exception("scheduled %s: cannot ask who leads; skipped this time", job.__name__)
        return
    if not leading:
        log.info("scheduled %s left to the leading daemon %s", job.__name__,
                 leases.holder(env.engine, LEADER))
        return
    _logged(job, env)


def _logged(job: Callable[[Services], Any], env: Services) -> None:
    try:
        result = job(env)
    except Exception:
        log.exception("scheduled %s failed", job.__name__)
        return
    if isinstance(result, dict) and "promoted" in result:
        log.info("retrain: %s (%s)", "promoted " + result["in_service"] if result["promoted"]
                 else "kept " + str(result["in_service"]), result["reason"])


def reload_if_changed(env: Services) -> str | None:
    """Load the model in service when it is not the one in memory; returns the new version."""
    models_dir = env.config.classifier.models_dir
    try:
        version = modelstore.in_service(env.engine, models_dir)
        if version is None or (env.model is not None and env.model.version == version):
            return None
        from classifier import artefact  # deferred: scikit-learn loads only when a command needs the model

        env.model = artefact.load_model(Path(models_dir) / version)
        modelstore.cache_current(models_dir, version)
    except Exception:
        log.exception("could not load the model in service from %s; keeping the one loaded",
                      models_dir)
        return None
    log.info("model %s is now in service", version)
    return version
