"""Classifier labels in plain words, so an ack never shows a code such as `incident/P2`.

Labels may come in English or Spanish (the training data decides); both map to the same
words. A label nobody described here is shown as itself, with separators turned to spaces.
"""

from __future__ import annotations

_SYNONYMS = {
    "incidente": "incident", "incidencia": "incident", "averia": "incident",
    "solicitud": "request", "peticion": "request", "service_request": "request",
    "consulta": "question", "pregunta": "question", "problema": "problem",
    "cambio": "change", "queja": "complaint", "reclamacion": "complaint",
    "critica": "critical", "urgente": "critical", "alta": "high", "media": "medium",
    "normal": "medium", "baja": "low",
}

_WORDS: dict[str, dict[str, dict[str, str]]] = {
    "type": {
        "es": {
            "incident": "una incidencia (algo ha dejado de funcionar)",
            "request": "una solicitud de servicio (algo que necesitas de nosotros)",
            "question": "una consulta (una duda que quieres resolver)",
            "problem": "un problema que se repite (algo que falla una y otra vez)",
            "change": "una petición de cambio (algo que quieres que modifiquemos)",
            "complaint": "una queja sobre el servicio",
        },
        "en": {
            "incident": "an incident (something has stopped working)",
            "request": "a service request (something you need from us)",
            "question": "a question (something you would like to know)",
            "problem": "a recurring problem (something that keeps failing)",
            "change": "a change request (something you would like us to change)",
            "complaint": "a complaint about the service",
        },
    },
    "priority": {
        "es": {"critical": "crítica", "high": "alta", "medium": "media", "low": "baja"},
        "en": {"critical": "critical", "high": "high", "medium": "normal", "low": "low"},
    },
}


def canonical(label: str) -> str:
    """The English key for a label, accents and case ignored."""
    key = label.strip().lower()
    plain = key.translate(str.maketrans("áéíóúñ", "aeioun"))
    return _SYNONYMS.get(plain, key)


def describe(head: str, label: str, language: str) -> str:
    words = _WORDS.get(head, {}).get(language, {})
    return words.get(canonical(label), label.replace("_", " ").replace("-", " "))
