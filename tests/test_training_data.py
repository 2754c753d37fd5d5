"""The bundled seed set keeps the promises of its datasheet."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training_data"))

import update_counts  # noqa: E402

ITIL_TYPES = {"incident", "service_request", "inquiry", "complaint", "compliment"}
PRIORITIES = {"critical", "high", "medium", "low"}


def test_seed_set_size_balance_and_languages():
    df = update_counts.load()
    assert len(df) >= 1500
    assert set(df.type) == ITIL_TYPES and set(df.priority) == PRIORITIES
    assert df.type.value_counts().min() >= 100
    assert df.priority.value_counts().min() >= 100
    assert (df.language == "es").mean() >= 0.40
    assert set(df.language) == {"es", "en"}
    assert (df.body.str.strip() != "").all()


def test_seed_set_has_no_near_duplicates():
    assert update_counts.near_duplicates(update_counts.load()) == []


def test_datasheet_counts_are_current():
    df = update_counts.load()
    readme = (ROOT / "training_data" / "README.md").read_text(encoding="utf-8")
    assert update_counts.table(df) in readme
