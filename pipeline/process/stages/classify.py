"""Classify: one model call for the whole batch (far faster than one per message)."""

from __future__ import annotations

from pipeline.process.work import BODY_LIMIT, SUBJECT_LIMIT, Work
from pipeline.services import Services


def stage_classify(batch: list[Work], env: Services) -> None:
    if env.model is None or not batch:
        return
    parsed = [work.need_parsed() for work in batch]
    results = env.model.predict([p.subject[:SUBJECT_LIMIT] for p in parsed],
                                [p.clean_text[:BODY_LIMIT] for p in parsed])
    for work, result in zip(batch, results, strict=True):
        work.predictions = result
