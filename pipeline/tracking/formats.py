"""Numbers, percentages, dates and label names as a reader of the report expects them in
their language: «66,7 %», «1.234», «5 dic 2026», «incidencia»; "66.7%", "1,234",
"5 Dec 2026", "incident". Babel holds the locale rules, so none are hand-written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

from pipeline import vocabulary

LOCALES = {"es": "es_ES", "en": "en_GB"}
PERCENT_SIGN = {"es": " %", "en": "%"}  # Spanish writes a space before the sign


@dataclass(frozen=True)
class Formats:
    language: str

    @property
    def locale(self) -> str:
        return LOCALES.get(self.language, "en_GB")

    def pct(self, value: float | None, digits: int = 1) -> str:
        if value is None:
            return "–"
        decimals = "." + "0" * digits if digits else ""
        pattern = f"#,##0{decimals}{PERCENT_SIGN.get(self.language, '%')}"
        return format_percent(value, format=pattern, locale=self.locale)

    def num(self, value: float | int | None) -> str:
        return "–" if value is None else format_decimal(value, locale=self.locale)

    def day(self, value: str | date | datetime | None) -> str:
        """A date (or the date of an ISO timestamp) the way the language writes it."""
        if not value:
            return "–"
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_date(moment, format="medium", locale=self.locale)

    def moment(self, value: str | datetime | None) -> str:
        if not value:
            return "–"
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_datetime(moment, format="d MMM y, HH:mm", locale=self.locale)

    def week(self, iso_week: str) -> str:
        """'2026-W49' as the date its week starts: «30 nov 2026»."""
        try:
            year, number = iso_week.split("-W")
            return self.day(date.fromisocalendar(int(year), int(number), 1))
        except ValueError:
            return iso_week

    def label(self, head: str, code: str) -> str:
        return vocabulary.name(head, str(code), self.language)
