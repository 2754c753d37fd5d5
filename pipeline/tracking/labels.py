"""Human labels: who said what about a message, and what a typed word means as a label.

Agents write labels the way they speak ("tipo: incidente", "cola: redes"); the model knows
them by their training names (`incident`, `network`). Every way in (mail, review, CSV, the
web desk) goes through `resolve`, which reads the one vocabulary (pipeline/vocabulary.py)
plus the labels of the current model, so they all agree on what a word means. Labels are never
updated: each correction is a new row, and the latest one per message and head is the truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, select

from pipeline import vocabulary
from pipeline.db import utcnow
from pipeline.schema import labels

HEADS = vocabulary.HEADS
SOURCES = ("email", "review", "import")


def model_labels(head: str, model: Any | None) -> tuple[str, ...]:
    """The labels the current model knows for a head (a site's own queues, say)."""
    if model is None or head not in getattr(model, "heads", ()):
        return ()
    lister = getattr(model, "labels", None)
    try:
        return tuple(str(x) for x in lister(head)) if callable(lister) else ()
    except Exception:  # a model without a label list: the vocabulary alone decides
        return ()


def known_labels(head: str, model: Any | None = None) -> tuple[str, ...]:
    """The vocabulary's codes plus any label the current model knows."""
    return vocabulary.codes(head, model_labels(head, model))


def resolve(head: str, word: str, model: Any | None = None) -> str | None:
    """The label `word` means for `head`, or None when nobody knows it."""
    return vocabulary.resolve(head, word, model_labels(head, model))


def describe_valid(head: str, model: Any | None = None,
                   language: str = "es") -> list[dict[str, Any]]:
    """What a reply or a prompt shows as the valid choices: each label's name and spellings."""
    found = []
    for label in known_labels(head, model):
        name = vocabulary.name(head, label, language)
        aliases = [w for w in vocabulary.spellings(head, label)
                   if vocabulary.fold(w) != vocabulary.fold(name) and "_" not in w]
        found.append({"label": label, "name": name, "aliases": aliases})
    return found


def record(conn: Connection, inbound_id: int, head: str, label: str, source: str, author: str,
           origin_inbound_id: int | None = None) -> int:
    if source not in SOURCES:
        raise ValueError(f"unknown label source {source!r}")
    return conn.execute(labels.insert().values(
        inbound_id=inbound_id, head=head, label=label, source=source, author=author[:320],
        created_at=utcnow(), origin_inbound_id=origin_inbound_id)).inserted_primary_key[0]


def latest(conn: Connection, inbound_ids: Iterable[int] | None = None) -> dict[tuple[int, str], dict]:
    """(inbound_id, head) -> the newest label row: the truth for that head."""
    newest = select(func.max(labels.c.id)).group_by(labels.c.inbound_id, labels.c.head)
    query = select(labels).where(labels.c.id.in_(newest))
    if inbound_ids is not None:
        query = query.where(labels.c.inbound_id.in_(list(inbound_ids)))
    return {(row.inbound_id, row.head): dict(row._mapping) for row in conn.execute(query)}


def first_labelled(conn: Connection) -> dict[int, Any]:
    """inbound_id -> when a person first labelled it: a model trained before then never saw
    that message's label."""
    query = select(labels.c.inbound_id, func.min(labels.c.created_at)).group_by(labels.c.inbound_id)
    return {row[0]: row[1] for row in conn.execute(query)}
