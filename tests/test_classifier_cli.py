"""`triaje train / evaluate / classify / model` through click, with exact JSON shapes."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "classifier"
TICKETS = FIXTURES / "tickets.csv"
HEADS = ["type", "priority", "queue"]
METRIC_KEYS = {"macro_f1", "accuracy", "coverage", "precision_at_threshold", "per_class",
               "confusion"}
EVALUATE_KEYS = {"not_reviewed", "precision_not_reviewed", "review_reasons", "rare_labels"}


def run(*args: str):
    """Run in the test's working directory, with no config file unless --config is given."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False,
                              env={"TRIAJE_CONFIG": None, "COLUMNS": "120"})


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(autouse=True)
def in_workdir(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("TRIAJE_CONFIG", raising=False)


@pytest.fixture(scope="module")
def trained(workdir):
    out = workdir / "model"
    result = run("train", "--data", str(TICKETS), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.output)


def test_train_json_reports_every_head(trained):
    out, summary = trained
    assert set(summary) == {"version", "out", "rows", "target_precision", "heads",
                            "skipped_heads"}
    assert summary["out"] == str(out)
    assert summary["rows"] == len(pd.read_csv(TICKETS))
    assert summary["target_precision"] == 0.9  # the default, no config file here
    assert list(summary["heads"]) == HEADS
    for head in HEADS:
        assert METRIC_KEYS | {"rows", "labels", "threshold", "rare_labels"} == set(
            summary["heads"][head])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == summary["version"]


def test_train_table_for_people(workdir):
    result = run("train", "--data", str(TICKETS), "--out", str(workdir / "m2"))
    assert result.exit_code == 0
    assert "macro-F1" in result.output and "per class" in result.output
    assert "compliment" in result.output


def test_evaluate_json_shape_is_exact(trained):
    out, _ = trained
    result = run("evaluate", "--data", str(TICKETS), "--model", str(out), "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    frame = pd.read_csv(TICKETS)
    assert set(report) == {"n", "heads"}
    assert report["n"] == len(frame)
    assert list(report["heads"]) == HEADS
    for head in HEADS:
        metrics = report["heads"][head]
        assert set(metrics) == METRIC_KEYS | EVALUATE_KEYS
        assert metrics["rare_labels"] == {}  # every fixture class has 6+ rows
        reviewed = sum(metrics["review_reasons"].values())
        assert set(metrics["review_reasons"]) <= {"unfamiliar", "low_confidence", "no_threshold",
                                                 "disagreement"}
        assert metrics["not_reviewed"] == pytest.approx(1 - reviewed / len(frame), abs=1e-4)
        labels = sorted(set(frame[head]) | set(metrics["per_class"]))
        assert sorted(metrics["per_class"]) == labels
        for stats in metrics["per_class"].values():
            assert set(stats) == {"precision", "recall", "f1", "support"}
        assert sum(s["support"] for s in metrics["per_class"].values()) == len(frame)
        assert sorted(metrics["confusion"]) == labels
        assert all(sorted(row) == labels for row in metrics["confusion"].values())
        diagonal = sum(metrics["confusion"][label][label] for label in labels)
        assert metrics["accuracy"] == pytest.approx(diagonal / len(frame), abs=1e-4)


def test_evaluate_table(trained):
    result = run("evaluate", "--data", str(TICKETS), "--model", str(trained[0]))
    assert result.exit_code == 0
    assert trained[1]["version"] in result.output
    for head in HEADS:
        assert f"{head}: " in result.output and "without review" in result.output


def test_classify_keeps_going_past_bad_files(trained, workdir):
    out, summary = trained
    empty = workdir / "empty.eml"
    empty.write_bytes(b"")
    files = [FIXTURES / "incident_es.eml", workdir / "missing.eml", empty, workdir,
             FIXTURES / "compliment_en.eml"]
    result = run("classify", *map(str, files), "--model", str(out), "--json")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["file"] for line in lines] == [str(f) for f in files]
    for bad in lines[1:4]:
        assert set(bad) == {"file", "error"}
    for good, language in ((lines[0], "es"), (lines[4], "en")):
        assert list(good) == ["file", "language", *HEADS]
        assert good["language"] == language
        for head in HEADS:
            assert set(good[head]) == {"label", "confidence", "needs_review", "reason"}
            assert good[head]["label"] in summary["heads"][head]["labels"]
            assert 0.0 <= good[head]["confidence"] <= 1.0
            assert isinstance(good[head]["needs_review"], bool)
            assert (good[head]["reason"] is None) == (not good[head]["needs_review"])


def test_classify_text_output(trained):
    result = run("classify", str(FIXTURES / "compliment_en.eml"), "--model", str(trained[0]))
    assert result.exit_code == 0
    assert "compliment_en.eml: [en] type=" in result.output


def test_without_a_model_the_error_says_how_to_get_one(workdir):
    result = run("classify", str(FIXTURES / "incident_es.eml"))
    assert result.exit_code == 2
    assert "triaje train" in result.output and "triaje demo" in result.output


def test_configured_models_dir_and_target_precision(trained, workdir, tmp_path):
    out, summary = trained
    config = tmp_path / "triaje.toml"
    config.write_text('[classifier]\nmodels_dir = "%s"\ntarget_precision = 0.8\n'
                      % (tmp_path / "models"))
    base = ["--config", str(config)]
    installed = run(*base, "model", "install", str(out), "--json")
    assert json.loads(installed.output) == {"version": summary["version"],
                                            "models_dir": str(tmp_path / "models")}
    listed = json.loads(run(*base, "model", "list", "--json").output)
    assert listed["current"] == summary["version"] and listed["versions"] == [summary["version"]]
    result = run(*base, "classify", str(FIXTURES / "incident_es.eml"), "--json")
    assert set(json.loads(result.output)) == {"file", "language", *HEADS}
    retrained = run(*base, "train", "--data", str(TICKETS), "--out", str(tmp_path / "m"),
                    "--json")
    assert json.loads(retrained.output)["target_precision"] == 0.8


def test_model_option_accepts_a_models_directory(trained, tmp_path):
    models = tmp_path / "models"
    run("model", "install", str(trained[0]), "--models-dir", str(models))
    result = run("classify", str(FIXTURES / "incident_es.eml"), "--model", str(models), "--json")
    assert result.exit_code == 0 and "error" not in json.loads(result.output)


def test_bad_training_data_is_one_clear_error(workdir):
    bad = workdir / "bad.csv"
    bad.write_text("subject,body,type\nvpn,down,incident\n,,incident\n")
    result = run("train", "--data", str(bad), "--out", str(workdir / "x"))
    assert result.exit_code == 2
    assert "row 3: empty text" in result.output
    shutil.rmtree(workdir / "x", ignore_errors=True)
