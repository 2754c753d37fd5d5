"""The one vocabulary: every label code with its Spanish and English names and the words
people type for it.

The model knows labels by code (`incident`, `network`); people read and write names
(«incidencia», «Redes», "crítica"). Acknowledgements, team mails, the report, review,
corrections by mail, label import and config validation all read this table, so a code
never reaches a person and a word means the same thing on every way in. Matching folds
case and accents ("Reclamación" = "reclamacion"); names keep their accents.

A label that is not in the table (a site's own queue, learnt from its history) is shown
as itself with separators turned to spaces, and is accepted when the model knows it.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

HEADS = ("type", "priority", "queue")
LANGUAGES = ("es", "en")


@dataclass(frozen=True)
class Term:
    code: str
    es: str  # the name, as a noun phrase without article
    en: str
    words: tuple[str, ...] = ()  # other words people type for it, either language
    es_phrase: str = ""  # a longer description for the acknowledgement, when it helps
    en_phrase: str = ""

    def name(self, language: str) -> str:
        return self.es if language == "es" else self.en

    def phrase(self, language: str) -> str:
        return (self.es_phrase if language == "es" else self.en_phrase) or self.name(language)


HEAD_TERMS: dict[str, Term] = {
    "type": Term("type", "tipo", "type", ("clase", "categoría")),
    "priority": Term("priority", "prioridad", "priority", ("urgencia",)),
    "queue": Term("queue", "cola", "queue", ("equipo", "team", "grupo")),
}

TERMS: dict[str, tuple[Term, ...]] = {
    "type": (
        Term("incident", "incidencia", "incident",
             ("incidente", "avería", "fallo", "error", "interrupción"),
             "una incidencia (algo ha dejado de funcionar)",
             "an incident (something has stopped working)"),
        Term("service_request", "solicitud de servicio", "service request",
             ("solicitud", "petición", "request", "requerimiento", "pedido"),
             "una solicitud de servicio (algo que necesitas de nosotros)",
             "a service request (something you need from us)"),
        Term("inquiry", "consulta", "inquiry",
             ("pregunta", "duda", "question", "query", "enquiry"),
             "una consulta (una duda que quieres resolver)",
             "a question (something you would like to know)"),
        Term("complaint", "queja", "complaint", ("reclamación", "reclamo", "queja formal"),
             "una queja sobre el servicio", "a complaint about the service"),
        Term("compliment", "agradecimiento", "compliment",
             ("felicitación", "elogio", "gracias", "thanks", "praise", "thank you"),
             "un agradecimiento", "a thank-you"),
    ),
    "priority": (
        Term("critical", "crítica", "critical", ("crítico", "urgente", "urgent", "p1")),
        Term("high", "alta", "high", ("alto", "p2")),
        Term("medium", "media", "medium", ("medio", "normal", "p3")),
        Term("low", "baja", "low", ("bajo", "p4")),
    ),
    "queue": (
        # the phrase of a queue is its subject, for "what you told us about ..."
        Term("network", "Redes", "Network", ("red", "networking", "comunicaciones"),
             "la red y las comunicaciones", "the network and communications"),
        Term("hardware", "Puesto de trabajo", "Hardware", ("equipos", "puesto", "microinformática"),
             "los equipos y dispositivos", "computers and devices"),
        Term("applications", "Aplicaciones", "Applications", ("aplicación", "apps", "software"),
             "las aplicaciones", "the applications"),
        Term("access", "Accesos", "Access", ("acceso", "cuentas", "identidad", "identity"),
             "las cuentas y los accesos", "accounts and access"),
        Term("procurement", "Compras", "Procurement", ("adquisiciones", "purchasing", "purchase"),
             "las compras y los pedidos", "purchases and orders"),
        Term("service_desk", "Mesa de servicio", "Service desk",
             ("mesa", "mesa de ayuda", "desk", "cau", "helpdesk", "help desk"),
             "la atención de la mesa de servicio", "the way the service desk looked after you"),
    ),
}


def fold(text: str) -> str:
    """Lower case, no accents, one space: 'Reclamación ' and 'reclamacion' are one word."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.replace("_", " ").replace("-", " ").split())


def term(head: str, code: str) -> Term | None:
    """The table's entry for a label, whether the model calls it by code or by a synonym
    (a desk that trained on `incidencia` still gets «incidencia» and "incident")."""
    found = resolve(head, code)
    return next((t for t in TERMS.get(head, ()) if t.code == found), None)


def name(head: str, code: str, language: str) -> str:
    """What a person reads for a label: «incidencia», "service request", «Redes»."""
    found = term(head, code)
    return found.name(language) if found else code.replace("_", " ").replace("-", " ")


def phrase(head: str, code: str, language: str) -> str:
    found = term(head, code)
    return found.phrase(language) if found else name(head, code, language)


def head_name(head: str, language: str) -> str:
    found = HEAD_TERMS.get(head)
    return found.name(language) if found else head


def head_of(word: str) -> str | None:
    """The head a word before a colon names: 'tipo', 'Prioridad', 'team'..."""
    folded = fold(word)
    for head, found in HEAD_TERMS.items():
        if folded in {fold(w) for w in (found.code, found.es, found.en, *found.words)}:
            return head
    return None


def codes(head: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The codes of the table for a head, then any other label (a model's) not in it."""
    found = [t.code for t in TERMS.get(head, ())]
    return tuple(found + [x for x in extra if x not in found and term(head, x) is None])


def spellings(head: str, code: str) -> tuple[str, ...]:
    """Every way of writing a label that `resolve` accepts, names first, accents kept."""
    found = term(head, code)
    if found is None:
        return (code,)
    seen: list[str] = []
    for word in (found.code, found.es, found.en, *found.words):
        if fold(word) not in {fold(s) for s in seen}:
            seen.append(word)
    return tuple(seen)


def resolve(head: str, word: str, extra: Iterable[str] = ()) -> str | None:
    """The code `word` means for `head` (a code, a name or a synonym), or None."""
    folded = fold(word)
    if not folded:
        return None
    exact = next((x for x in extra if fold(x) == folded), None)
    if exact is not None:  # the model's own label, as it was trained, wins
        return exact
    return _folded_words(head).get(folded)


@functools.cache
def _folded_words(head: str) -> dict[str, str]:
    """Every folded word of a head to its code, the first term naming it winning: folding
    all the words on every call cost planning a tenth of a millisecond per mail."""
    words: dict[str, str] = {}
    for found in TERMS.get(head, ()):
        for word in (found.code, found.es, found.en, *found.words):
            words.setdefault(fold(word), found.code)
    return words
