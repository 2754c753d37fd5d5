"""How to address the person who wrote: by their given name, in their own register.

A reply that says «Hola, Lucía Fernández García» reads like a form; «Hola, Lucía» like a
person. A display name that is an address or a department («Contabilidad», "IT Support")
gets no name at all. In Spanish the desk answers *usted* to whoever wrote *usted*
(«Estimados señores», «le agradecería», «Atentamente») and *tú* otherwise, unless
`[desk] spanish_register` fixes one.
"""

from __future__ import annotations

import re

from pipeline.vocabulary import fold

_FORMAL = re.compile(
    r"\b(usted|estimad[oa]s?|distinguid[oa]s?|atentamente|muy senor(es)? mio|apreciad[oa]s?"
    r"|(le|les) (ruego|agradeceria|agradezco|saluda|informo|solicito|escribo)"
    r"|podria(n)? usted(es)?|su amable|quedo a la espera de su|reciba(n)? un (cordial )?saludo"
    r"|por medio de la presente|a la espera de sus noticias|sin otro particular"
    r"|cordialmente|le saluda)\b")
_INFORMAL = re.compile(
    r"\b(tu|te|ti|contigo|vosotr[oa]s|podeis|sabeis|teneis|porfa|un abrazo|besos|chicos|chicas"
    r"|vos|podes|tenes|gracias!+|hola!+|oye|mira)\b")
_DEPARTMENT = {
    "departamento", "dpto", "depto", "dept", "department", "contabilidad", "administracion",
    "recursos", "rrhh", "soporte", "support", "helpdesk", "team", "equipo", "oficina", "office",
    "ventas", "sales", "info", "informacion", "admin", "facturacion", "billing", "recepcion",
    "reception", "secretaria", "compras", "marketing", "noreply", "no-reply", "servicio",
    "service", "services", "servicios", "mesa", "cau", "grupo", "group", "sistemas", "it", "ti",
    "tienda", "store", "clinica", "hospital", "colegio", "ayuntamiento", "nominas", "payroll",
    "almacen", "warehouse", "logistica", "logistics", "calidad", "quality", "direccion",
    "gerencia", "mailer-daemon", "postmaster", "notifications", "notificaciones", "alerts",
}
_TITLES = {"dr", "dra", "sr", "sra", "srta", "d", "dna", "don", "dona", "mr", "mrs", "ms", "miss",
           "prof", "ing", "lic", "lcdo", "lcda"}
_COMPOUND_FIRST = {"maria", "jose", "juan", "ana", "luis", "miguel", "francisco", "pedro"}
_COMPOUND_SECOND = {"jose", "luis", "carlos", "maria", "antonio", "manuel", "isabel", "jesus",
                    "pilar", "teresa", "elena", "angel", "angeles", "carmen", "ignacio", "ramon",
                    "francisco", "pablo", "fernando", "eugenia", "del", "de", "cruz", "luz"}


def formal(text: str, register: str = "mirror") -> bool:
    """Whether a Spanish reply should say *usted*: fixed by `register`, else mirrored."""
    if register in ("usted", "tu"):
        return register == "usted"
    folded = fold(text[:4000])
    return len(_FORMAL.findall(folded)) > len(_INFORMAL.findall(folded))


def given_name(display: str) -> str:
    """«Lucía» from "Lucía Fernández García", "FERNÁNDEZ GARCÍA, LUCÍA" or "Dra. Lucía
    Fernández"; "" when the display name is an address, a department or a login."""
    name = " ".join(display.replace('"', " ").replace("'", " ").split())
    if not name or "@" in name or any(ch.isdigit() for ch in name):
        return ""
    if "," in name:  # directory style: "Surname Surname, Given"
        name = name.partition(",")[2].strip()
    words = [w for w in name.split() if fold(w).strip(".") not in _TITLES]
    if not words or any(fold(w) in _DEPARTMENT for w in words):
        return ""
    if len(words) == 1 and words[0].islower():  # "jperez": a login, not a name
        return ""
    chosen = words[:2] if _compound(words) else words[:1]
    if len(words) >= 3 and fold(words[1]) in ("del", "de") and _compound(words):
        chosen = words[:3]
    return " ".join(_capitalised(w) for w in chosen)


def _compound(words: list[str]) -> bool:
    """«María José», «José Luis», «María del Carmen»: two-word given names."""
    return len(words) >= 3 and fold(words[0]) in _COMPOUND_FIRST and fold(words[1]) in _COMPOUND_SECOND


def _capitalised(word: str) -> str:
    return word.capitalize() if word.isupper() and len(word) > 1 else word
