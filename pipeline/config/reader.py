"""Typed reading of one TOML table, so every config error names its key and its fix.

Sections of the config are declared as frozen dataclasses; their `from_table` builders use
a `Table` to pull typed values, and `Table.finish()` rejects keys nobody asked for (a typo
in a config must not be silently ignored).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.addresses import is_address, normalise
from pipeline.errors import ConfigError

T = TypeVar("T")
_MISSING: Any = object()


class Table:
    """One TOML table plus the dotted key that leads to it, for error messages."""

    def __init__(self, data: Any, key: str, path: str | None) -> None:
        if not isinstance(data, dict):
            raise ConfigError(key, "must be a table", f"write it as [{key}] with keys below it", path)
        self.data, self.key, self.path = data, key, path
        self._used: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.key}.{key}" if self.key else key

    def error(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(self._name(key), problem, fix, self.path)

    def _get(self, key: str, default: Any, kind: type | tuple[type, ...], kind_name: str) -> Any:
        self._used.add(key)
        if key not in self.data:
            if default is _MISSING:
                raise self.error(key, "is required", f"add `{key} = ...` to [{self.key}]")
            return default
        value = self.data[key]
        if isinstance(value, bool) and kind is not bool and bool not in _as_tuple(kind):
            raise self.error(key, f"must be {kind_name}, not a boolean", f"set {key} to {kind_name}")
        if not isinstance(value, kind):
            raise self.error(key, f"must be {kind_name}, got {value!r}", f"set {key} to {kind_name}")
        return value

    def str(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, default, str, "a string")

    def bool(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, default, bool, "true or false")

    def int(self, key: str, default: Any = _MISSING, minimum: int | None = None) -> Any:
        value = self._get(key, default, int, "a whole number")
        if minimum is not None and value is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}", f"raise {key}")
        return value

    def float(self, key: str, default: Any = _MISSING, lo: float = -1e300, hi: float = 1e300) -> Any:
        value = self._get(key, default, (int, float), "a number")
        if value is not None and not lo <= value <= hi:
            raise self.error(key, f"must be between {lo} and {hi}, got {value}", f"change {key}")
        return None if value is None else float(value)

    def strings(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default, (list, str), "a list of strings")
        if isinstance(value, str):
            value = [value]
        if value is not None and not all(isinstance(v, str) for v in value):
            raise self.error(key, "must hold only strings", f'write {key} = ["a", "b"]')
        return tuple(value) if value is not None else None

    def addresses(self, key: str, example: str = "team@example.org") -> tuple[str, ...]:
        """Mail addresses, normalised; anything else names the key."""
        values = tuple(normalise(v) for v in self.strings(key, ()))
        for value in values:
            if not is_address(value):
                raise self.error(key, f"holds something that is not a mail address: {value!r}",
                                 f'write {key} = ["{example}"]')
        return values

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> Any:
        value = self.str(key, default)
        if value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, got {value!r}",
                             f"set {key} to one of {', '.join(choices)}")
        return value

    def timezone(self, key: str, default: Any = _MISSING) -> Any:
        name = self.str(key, default)
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise self.error(key, f"is not a known time zone: {name!r}",
                             'use an IANA name such as "Europe/Madrid" or "America/Bogota"') from exc
        return name

    def table(self, key: str) -> Table:
        self._used.add(key)
        return Table(self.data.get(key, {}), self._name(key), self.path)

    def tables(self, key: str) -> list[Table]:
        self._used.add(key)
        raw = self.data.get(key, [])
        if not isinstance(raw, list):
            raise self.error(key, "must be an array of tables", f"write each entry as [[{self._name(key)}]]")
        return [Table(item, f"{self._name(key)}[{i}]", self.path) for i, item in enumerate(raw)]

    def raw(self, key: str, default: Any = None) -> Any:
        self._used.add(key)
        return self.data.get(key, default)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self._used)
        if unknown:
            raise self.error(unknown[0], "is not a known setting",
                             "check its spelling against the configuration reference in README.md")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def build(table: Table, builder: Callable[[Table], T]) -> T:
    """Run a section builder and then refuse leftover keys."""
    result = builder(table)
    table.finish()
    return result
