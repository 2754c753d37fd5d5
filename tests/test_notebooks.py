"""Both notebooks run top to bottom on the demo data (the bundled seed set and the sample
mailbox processed into a database), and are kept in git without outputs."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import nbformat
import pytest
from helpers import build_env
from nbclient import NotebookClient
from sqlalchemy import select
from stubmodel import KeywordModel

from pipeline.ingest import poller
from pipeline.schema import inbound, predictions
from pipeline.tracking import labels, report

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
pytestmark = pytest.mark.slow


def run_notebook(name: str, workdir: Path) -> nbformat.NotebookNode:
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(book, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return book


def outputs_text(book) -> str:
    parts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") + json.dumps(out.get("data", {})))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory) -> Path:
    """The sample mailbox through the pipeline, a few labels (every fourth prediction
    corrected to another class), and `triaje report --json` written to a file."""
    tmp = tmp_path_factory.mktemp("nb")
    env = build_env({"database": {"url": f"sqlite:///{tmp / 'demo.db'}"},
                     "mailboxes": [{"name": "sample", "start": "all",
                                    "url": f"maildir://{files('pipeline.sample_mailbox')}"}],
                     "tracking": {"audit_fraction": 0.5}})
    env.model = KeywordModel()
    poller.poll_once(env)
    with env.engine.begin() as conn:
        rows = conn.execute(select(predictions.c.inbound_id, predictions.c.head, predictions.c.label)
                            .join(inbound, inbound.c.id == predictions.c.inbound_id)
                            .where(inbound.c.is_followup.is_(False))
                            .order_by(predictions.c.id)).all()
        for n, row in enumerate(rows):
            choices = labels.known_labels(row.head)
            truth = choices[(choices.index(row.label) + 1) % len(choices)] if n % 4 == 0 else row.label
            labels.record(conn, row.inbound_id, row.head, truth, "review", "tester")
    path = tmp / "report.json"
    path.write_text(json.dumps(report.build(env.engine, env.config), default=str), encoding="utf-8")
    return path


def test_training_data_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAJE_TRAINING_DATA", str(files("pipeline.training_data")))
    book = run_notebook("training_data.ipynb", tmp_path)
    text = outputs_text(book)
    assert "rows from" in text and "incident" in text and "service_desk" in text


def test_misclassifications_notebook(demo_report, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAJE_REPORT_JSON", str(demo_report))
    book = run_notebook("misclassifications.ipynb", tmp_path)
    data = json.loads(demo_report.read_text(encoding="utf-8"))
    text = outputs_text(book)
    assert data["heads"]["type"]["misclassified"] > 0
    assert "rate_of_labelled" in text and "image/png" in text


@pytest.mark.parametrize("name", ["training_data.ipynb", "misclassifications.ipynb"])
def test_notebooks_are_stored_without_outputs(name):
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
