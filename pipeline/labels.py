"""Human labels: the one alias table, and the record of who said what about a message.

Agents write labels the way they speak ("tipo: incidente", "cola: redes"); the model knows
them by their training names (`incident`, `network`). Every way in (mail, review, CSV)
goes through `resolve`, so the three agree on what a word means. Labels are never
updated: each correction is a new row, and the latest one per message and head is the truth.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, select

from pipeline.db import utcnow
from pipeline.schema import labels

HEADS = ("type", "priority", "queue")
SOURCES = ("email", "review", "import")

HEAD_WORDS = {  # what a person may write before the colon, in Spanish or English
    "type": ("tipo", "type", "clase"),
    "priority": ("prioridad", "priority", "urgencia"),
    "queue": ("cola", "queue", "equipo", "team"),
}
HEAD_NAMES = {"es": {"type": "tipo", "priority": "prioridad", "queue": "cola"},
              "en": {"type": "type", "priority": "priority", "queue": "queue"}}

ALIASES: dict[str, dict[str, tuple[str, ...]]] = {  # head -> label -> other words for it
    "type": {
        "incident": ("incidente", "incidencia", "averia", "fallo"),
        "service_request": ("solicitud", "peticion", "request", "service request",
                            "solicitud de servicio"),
        "inquiry": ("consulta", "pregunta", "duda", "question", "query"),
        "complaint": ("queja", "reclamacion", "reclamo"),
        "compliment": ("felicitacion", "agradecimiento", "elogio", "thanks"),
    },
    "priority": {
        "critical": ("critica", "critico", "urgente", "urgent"),
        "high": ("alta", "alto"),
        "medium": ("media", "medio", "normal"),
        "low": ("baja", "bajo"),
    },
    "queue": {
        "network": ("redes", "red", "networking", "comunicaciones"),
        "hardware": ("equipos", "equipo", "puesto"),
        "applications": ("aplicaciones", "aplicacion", "apps", "software"),
        "access": ("accesos", "acceso", "cuentas", "identidad"),
        "procurement": ("compras", "adquisiciones", "purchasing"),
        "service_desk": ("mesa", "mesa de servicio", "mesa de ayuda", "service desk", "desk", "cau"),
    },
}


def fold(text: str) -> str:
    """Lower case, no accents, one space: 'Reclamación ' and 'reclamacion' are one word."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.replace("_", " ").replace("-", " ").split())


def head_of(word: str) -> str | None:
    folded = fold(word)
    return next((head for head, words in HEAD_WORDS.items() if folded in words), None)


def known_labels(head: str, model: Any | None = None) -> tuple[str, ...]:
    """The labels of the alias table plus any label the current model knows."""
    found = list(ALIASES.get(head, {}))
    for label in _model_labels(head, model):
        if label not in found:
            found.append(label)
    return tuple(found)


def _model_labels(head: str, model: Any | None) -> tuple[str, ...]:
    if model is None or head not in getattr(model, "heads", ()):
        return ()
    lister = getattr(model, "labels", None)
    try:
        return tuple(str(x) for x in lister(head)) if callable(lister) else ()
    except Exception:  # a model without a label list: the alias table alone decides
        return ()


def resolve(head: str, word: str, model: Any | None = None) -> str | None:
    """The label `word` means for `head`, or None when nobody knows it."""
    folded = fold(word)
    for label in known_labels(head, model):
        if folded == fold(label) or folded in ALIASES.get(head, {}).get(label, ()):
            return label
    return None


def describe_valid(head: str, model: Any | None = None) -> list[dict[str, Any]]:
    """What a reply or a prompt shows as the valid choices: each label and its aliases."""
    return [{"label": label, "aliases": list(ALIASES.get(head, {}).get(label, ()))}
            for label in known_labels(head, model)]


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
