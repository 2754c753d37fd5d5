"""Classifying .eml files: one result per file, an error result for a file that fails.

A bad file never stops the others: reading and parsing problems become an "error"
entry for that file, and the good ones are classified together in one batch.
"""

from __future__ import annotations

from pathlib import Path

from classifier.predictor import TriageModel
from pipeline.process.parse import parse_message

DEFAULT_MAX_BYTES = 25 * 1024 * 1024


def classify_files(model: TriageModel, files: list[str],
                   max_bytes: int = DEFAULT_MAX_BYTES) -> list[dict]:
    results: list[dict] = []
    texts: list[tuple[int, str, str]] = []
    for name in files:
        result, subject, body = _read(name, max_bytes)
        if "error" not in result:
            texts.append((len(results), subject, body))
        results.append(result)
    if texts:
        predictions = model.predict([t[1] for t in texts], [t[2] for t in texts])
        for (index, _, _), prediction in zip(texts, predictions, strict=True):
            results[index].update({head: _as_dict(p) for head, p in prediction.items()})
    return results


def _read(name: str, max_bytes: int) -> tuple[dict, str, str]:
    try:
        raw = Path(name).read_bytes()
    except OSError as exc:
        return {"file": name, "error": f"cannot read: {exc.strerror or exc}"}, "", ""
    try:
        parsed = parse_message(raw, max_bytes=max_bytes)
    except Exception as exc:  # the parse stage's own error, or anything a broken file causes
        return {"file": name, "error": f"cannot parse: {exc}"}, "", ""
    if not parsed.subject.strip() and not parsed.clean_text.strip():
        return {"file": name, "error": "no subject and no text to classify"}, "", ""
    return {"file": name, "language": parsed.language}, parsed.subject, parsed.clean_text


def _as_dict(prediction) -> dict:
    return {"label": prediction.label, "confidence": round(prediction.confidence, 4),
            "needs_review": prediction.needs_review, "reason": prediction.reason}
