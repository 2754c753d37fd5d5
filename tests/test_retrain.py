"""`triaje retrain`: a candidate trained on garbage is refused; a sound one is promoted, and
`model list / rollback / promote` move between the versions. Small data keeps it quick."""

from __future__ import annotations

import json
import os
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import build_env
from sqlalchemy import select
from test_labels import write_config

from classifier import artefact, dataset, training
from pipeline.cli import main
from pipeline.process import workers
from pipeline.schema import inbound, model_events
from pipeline.tracking import labels, modelstore, retrain

pytestmark = pytest.mark.slow
HEADS = ("type", "priority", "queue")
TRACKING = {"min_holdout": 10, "holdout_fraction": 0.5, "promote_margin": 0.15}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Seed rows split three ways: 240 to train on (and a label-shuffled copy of them), 40
    for the desk's labelled history; a model trained on the 240 is in service."""
    tmp = tmp_path_factory.mktemp("retrain")
    # the first seed files: one house style, so 240 rows learn every head reliably (the
    # many-register files need more rows than a quick test trains on)
    first = sorted(str(p) for p in Path(retrain.seed_paths()[0]).glob("seed_*.csv")
                   if "registers" not in p.name)
    seed = dataset.load(first).frame.sample(frac=1.0, random_state=4)
    good, history = seed.iloc[:240], seed.iloc[240:280]
    good.to_csv(tmp / "good.csv", index=False)
    bad = good.copy()
    for n, head in enumerate(HEADS):
        bad[head] = bad[head].sample(frac=1.0, random_state=n).to_numpy()
    bad.to_csv(tmp / "bad.csv", index=False)
    training.train_from_paths([str(tmp / "good.csv")], tmp / "trained")
    version = artefact.install(tmp / "trained", tmp / "models")
    return tmp, history, version


def desk(world, tmp_path):
    tmp, history, version = world
    shutil.copytree(tmp / "models", tmp_path / "models")
    cfg = {"database": {"url": f"sqlite:///{tmp_path / 'triaje.db'}"},
           "classifier": {"models_dir": str(tmp_path / "models")}, "tracking": TRACKING}
    env = build_env({**cfg, "mailboxes": []})
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with env.engine.begin() as conn:
        for n, row in enumerate(history.itertuples(), 1):
            when = start + timedelta(hours=n)
            mid = conn.execute(inbound.insert().values(
                mailbox="desk", folder="INBOX", dedupe_key=f"h{n}", raw=b"x", size=1,
                state="processed", attempts=1, received_at=when, server_done=True,
                is_followup=False, subject=row.subject, body_text=row.body,
                language=row.language)).inserted_primary_key[0]
            for head in HEADS:
                labels.record(conn, mid, head, getattr(row, head), "import", "tester")
    return env, write_config(tmp_path / "triaje.toml", cfg), version


def cli(config, *args):
    done = CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done


def test_a_worse_candidate_is_refused(world, tmp_path):
    env, config, version = desk(world, tmp_path)
    result = json.loads(cli(config, "retrain", "--data", str(world[0] / "bad.csv"), "--json").stdout)
    assert result["promoted"] is False and result["in_service"] == version
    assert result["holdout"] == {"source": "labels", "rows": 20}
    assert result["current"]["version"] == version
    new, old = result["candidate"]["macro_f1"], result["current"]["macro_f1"]
    assert set(new) == set(old) == set(HEADS)
    assert any(new[h] < old[h] - TRACKING["promote_margin"] for h in HEADS)
    assert "worse on" in result["reason"]
    assert artefact.current_version(tmp_path / "models") == version
    assert artefact.versions(tmp_path / "models") == [version]
    with env.engine.connect() as conn:
        event = conn.execute(select(model_events)).one()
    assert event.action == "retrain" and json.loads(event.details)["promoted"] is False


def test_a_sound_candidate_is_promoted_then_rolled_back(world, tmp_path):
    env, config, first = desk(world, tmp_path)
    printed = cli(config, "retrain", "--data", str(world[0] / "good.csv")).output
    assert "candidate promoted" in printed
    for head in HEADS:
        assert head in printed
    second = artefact.current_version(tmp_path / "models")
    assert second != first
    listed = json.loads(cli(config, "model", "list", "--json").stdout)
    names = listed["versions"] if isinstance(listed, dict) else [m["version"] for m in listed]
    assert sorted(names) == sorted([first, second])
    assert "was " + second in cli(config, "model", "rollback", "--who", "ana").output
    assert artefact.current_version(tmp_path / "models") == first
    cli(config, "model", "promote", second)
    assert artefact.current_version(tmp_path / "models") == second
    with env.engine.connect() as conn:
        actions = [(r.action, r.version, r.previous) for r in conn.execute(
            select(model_events).order_by(model_events.c.id))]
    assert actions == [("retrain", second, first), ("rollback", first, second),
                       ("promote", second, first)]


def test_promote_refuses_an_unknown_or_tampered_version(world, tmp_path):
    _, config, version = desk(world, tmp_path)
    done = CliRunner().invoke(main, ["--config", str(config), "model", "promote", "nope"])
    assert done.exit_code == 2 and "no model version 'nope'" in done.output
    model_file = Path(tmp_path / "models" / version / artefact.MODEL_FILE)
    model_file.write_bytes(model_file.read_bytes() + b"x")
    done = CliRunner().invoke(main, ["--config", str(config), "model", "promote", version])
    assert done.exit_code == 2 and "sha256" in done.output


@pytest.mark.parametrize(("candidate", "current", "margin", "rule", "promoted"), [
    ({"type": 0.70, "queue": 0.60}, {"type": 0.70, "queue": 0.61}, 0.0, "each_head", False),
    ({"type": 0.70, "queue": 0.60}, {"type": 0.70, "queue": 0.61}, 0.02, "each_head", True),
    ({"type": 0.80, "queue": 0.55}, {"type": 0.70, "queue": 0.60}, 0.0, "mean", True),
    ({"type": 0.80, "queue": 0.55}, {"type": 0.70, "queue": 0.60}, 0.0, "each_head", False),
    ({"type": 0.80}, {"type": 0.70, "queue": 0.60}, 0.5, "mean", False),
    ({"type": 0.10}, None, 0.0, "each_head", True),
])
def test_promotion_rule(candidate, current, margin, rule, promoted):
    assert retrain.decide(candidate, current, margin, rule)[0] is promoted


def test_no_fair_comparison_is_said_plainly(world, tmp_path):
    """The model in service was trained on the seed rows and no label is newer than it:
    any held-out row would flatter it, so nothing is trained and the reason says what to do."""
    tmp, _history, version = world
    shutil.copytree(tmp / "models", tmp_path / "models")
    cfg = {"database": {"url": f"sqlite:///{tmp_path / 'triaje.db'}"},
           "classifier": {"models_dir": str(tmp_path / "models")}, "tracking": TRACKING}
    build_env({**cfg, "mailboxes": []})
    config = write_config(tmp_path / "triaje.toml", cfg)
    result = json.loads(cli(config, "retrain", "--data", str(tmp / "good.csv"), "--json").stdout)
    assert result["promoted"] is False and result["in_service"] == version
    assert result["holdout"] == {"source": "none", "rows": 0} and result["candidate"] is None
    assert "cannot compare fairly" in result["reason"] and "label at least 10" in result["reason"]
    printed = cli(config, "retrain", "--data", str(tmp / "good.csv")).output
    assert "not retrained: cannot compare fairly" in printed


def test_a_rollback_reaches_a_daemon_whose_models_folder_says_otherwise(world, tmp_path):
    """Two daemons, one database, each with the models folder's content (a shared path,
    copied here): the rollback run beside one of them is what the other loads at its
    next once-a-minute watch, though its own CURRENT still names the newer version."""
    _env, config, first = desk(world, tmp_path)
    cli(config, "retrain", "--data", str(world[0] / "good.csv"))
    second = artefact.current_version(tmp_path / "models")
    shutil.copytree(tmp_path / "models", tmp_path / "other-models")
    other = build_env({"database": {"url": f"sqlite:///{tmp_path / 'triaje.db'}"},
                       "classifier": {"models_dir": str(tmp_path / "other-models")},
                       "mailboxes": []}, with_model=True)
    assert other.model.version == second
    cli(config, "model", "rollback", "--who", "ana")
    assert artefact.current_version(tmp_path / "other-models") == second  # untouched
    assert retrain.reload_if_changed(other) == first and other.model.version == first
    assert retrain.reload_if_changed(other) is None  # loaded once


def _skewed(models_dir: Path, version: str) -> None:
    """This host's CURRENT names `version` and was written 'in the future': a clock ahead."""
    (models_dir / artefact.CURRENT_FILE).write_text(f"{version}\n", encoding="utf-8")
    ahead = (datetime.now(UTC) + timedelta(days=365)).timestamp()
    os.utime(models_dir / artefact.CURRENT_FILE, (ahead, ahead))


def test_an_install_and_a_rollback_reach_another_daemon_whatever_its_clock(world, tmp_path,
                                                                          monkeypatch):
    """Issue 13, item 6: `train --install` records the database's pointer (with its
    model_events row), and the pointer is what every daemon and worker loads, even when
    another host's CURRENT names something else and looks newer (its clock runs ahead)."""
    env, config, first = desk(world, tmp_path)
    done = CliRunner().invoke(main, ["--config", str(config), "train", "--data",
                                     str(world[0] / "good.csv"), "--out", str(tmp_path / "second"),
                                     "--install", "--json"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    second = json.loads(done.stdout)["installed"]
    assert second != first and modelstore.pointer(env.engine) == second
    shutil.copytree(tmp_path / "models", tmp_path / "other-models")
    _skewed(tmp_path / "other-models", first)
    other = build_env({"database": {"url": f"sqlite:///{tmp_path / 'triaje.db'}"},
                       "classifier": {"models_dir": str(tmp_path / "other-models")},
                       "mailboxes": []}, with_model=True)
    assert other.model.version == second

    cli(config, "model", "rollback", "--who", "ana")
    _skewed(tmp_path / "other-models", second)
    monkeypatch.setattr(workers, "MODEL_WATCH", 0.0)  # a worker process's look, now
    threading.Timer(1.0, other.stop.set).start()
    workers.loop(other, os.getppid())
    assert other.model.version == first
    assert artefact.current_version(tmp_path / "other-models") == first  # the cache follows
    with env.engine.connect() as conn:
        actions = [(r.action, r.version) for r in conn.execute(
            select(model_events).order_by(model_events.c.id))]
    assert actions == [("install", second), ("rollback", first)]


def test_the_candidate_folds_whole_seed_files_as_the_shipped_model_does(tmp_path):
    """Seed rows keep their file through `split`, and the candidate trains from one CSV per
    file plus one of the desk's labels: with 3+ files its folds are whole files."""
    seed_dir = Path(retrain.seed_paths()[0])
    files = sorted(str(p) for p in seed_dir.glob("seed_en_*.csv"))[:3]
    data = dataset.load(files)
    frame = data.frame.assign(source=retrain._source_names(data))
    assert list(frame["source"].unique()) == [Path(f).name for f in files]
    sample = frame.groupby("source", sort=False).head(70)
    labelled = sample.iloc[:30].assign(source=retrain.LABELS_SOURCE)
    train = pd.concat([sample, labelled], ignore_index=True)
    paths = retrain.source_files(train, tmp_path)
    assert [len(dataset.load([p]).frame) for p in paths] == [70, 70, 70, 30]
    manifest = training.train_from_paths(paths, tmp_path / "grouped")
    assert manifest["cv_grouping"] == "source file"
    (tmp_path / "one").mkdir()
    one = retrain.source_files(train.drop(columns="source"), tmp_path / "one")
    assert [len(dataset.load([p]).frame) for p in one] == [240]
