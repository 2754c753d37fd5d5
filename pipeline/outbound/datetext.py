"""Dates as people write them, in Spanish and English, without touching the process locale.

The names live in a small table here: `setlocale` is process-wide, not thread-safe, and the
locales may not be installed where the daemon runs.
"""

from __future__ import annotations

from datetime import datetime

WEEKDAYS = {
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS = {
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}


def format_when(moment: datetime, language: str, reference: datetime | None = None) -> str:
    """'el lunes 30 de noviembre a las 10:30' / 'Monday 30 November at 10:30'.

    The year is added only when it differs from the reference's (usually the received time).
    Languages without a table get an unambiguous ISO-like form.
    """
    year = reference is not None and reference.year != moment.year
    if language == "es":
        return _spanish(moment, year)
    if language == "en":
        return _english(moment, year)
    return moment.strftime("%Y-%m-%d %H:%M")


def _spanish(moment: datetime, with_year: bool) -> str:
    day = f"{WEEKDAYS['es'][moment.weekday()]} {moment.day} de {MONTHS['es'][moment.month - 1]}"
    if with_year:
        day += f" de {moment.year}"
    article = "la" if moment.hour == 1 else "las"
    return f"el {day} a {article} {moment.hour}:{moment.minute:02d}"


def _english(moment: datetime, with_year: bool) -> str:
    day = f"{WEEKDAYS['en'][moment.weekday()]} {moment.day} {MONTHS['en'][moment.month - 1]}"
    if with_year:
        day += f" {moment.year}"
    return f"{day} at {moment.hour:02d}:{moment.minute:02d}"
