"""Training and evaluation data: CSV or Parquet files with text and label columns.

Every problem is a DataError that names the file and the row, because the people who
fix these files fix them in a spreadsheet. CSV row numbers count the header as row 1
(what a spreadsheet shows); Parquet rows count from 1.
"""

from __future__ import annotations

import codecs
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.errors import DataError

TEXT_COLUMNS = ("subject", "body")
LABEL_COLUMNS = ("type", "priority", "queue")
SUFFIXES = (".csv", ".parquet")
_SHOWN_ROWS = 10


@dataclass(frozen=True)
class Source:
    """One file read: enough to tell later exactly which data a model saw."""

    path: str
    sha256: str
    rows: int


@dataclass(frozen=True)
class Dataset:
    """Rows of `subject`, `body`, `language` and label columns ("" means unlabelled)."""

    frame: pd.DataFrame
    sources: tuple[Source, ...]

    @property
    def heads(self) -> tuple[str, ...]:
        """The label columns with at least one label, in canonical order."""
        return tuple(h for h in LABEL_COLUMNS if h in self.frame and (self.frame[h] != "").any())

    def labelled(self, head: str) -> pd.Series:
        return self.frame[head] != "" if head in self.frame else pd.Series(False, self.frame.index)

    @property
    def sha256(self) -> str:
        """One hash for the whole set: the sorted hashes of its files."""
        joined = "\n".join(sorted(s.sha256 for s in self.sources))
        return hashlib.sha256(joined.encode()).hexdigest()


def expand(paths: list[str] | tuple[str, ...]) -> list[Path]:
    """Files named, plus every *.csv and *.parquet directly inside a named directory."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
            if not found:
                raise DataError(f"{path}: directory has no .csv or .parquet file")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"{path}: no such file or directory")
    return files


def load(paths: list[str] | tuple[str, ...]) -> Dataset:
    frames, sources = [], []
    for path in expand(paths):
        raw = path.read_bytes()
        frame = _validated(read_table(path, raw), path)
        frames.append(frame)
        sources.append(Source(str(path), hashlib.sha256(raw).hexdigest(), len(frame)))
    if not frames:
        raise DataError("no data file given")
    frame = pd.concat(frames, ignore_index=True).fillna("")
    return Dataset(frame, tuple(sources))


def read_table(path: Path, raw: bytes) -> pd.DataFrame:
    """The file as a table of strings, whatever its format."""
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path, raw)
    if path.suffix.lower() != ".csv":
        raise DataError(f"{path}: unknown file type; use .csv or .parquet")
    try:
        return pd.read_csv(io.StringIO(_decode(path, raw)), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: row 1: the file is empty; it needs a header row") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: not a valid CSV file ({exc})") from exc


def _decode(path: Path, raw: bytes) -> str:
    """UTF-8 (with or without BOM) or BOM-marked UTF-16; anything else is refused."""
    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    encoding = "utf-16" if utf16 else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line}: unknown encoding (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start} is not {encoding.upper().removesuffix('-SIG')}); save the file as UTF-8"
        ) from exc


def _read_parquet(path: Path, raw: bytes) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # pyarrow raises its own error kinds on a damaged file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
    frame.index = pd.RangeIndex(len(frame))
    return frame.astype(object).where(frame.notna(), "").map(str)


def _row_number(path: Path, index: int) -> int:
    return index + (2 if path.suffix.lower() == ".csv" else 1)


def _validated(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    missing = [c for c in TEXT_COLUMNS if c not in frame]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise DataError(f"{path}: row 1 (header): missing column {', '.join(missing)} "
                        f"(found: {found})")
    if not any(c in frame for c in LABEL_COLUMNS):
        raise DataError(f"{path}: row 1 (header): no label column; add at least one of "
                        + ", ".join(LABEL_COLUMNS))
    keep = [c for c in (*TEXT_COLUMNS, "language", *LABEL_COLUMNS) if c in frame]
    frame = frame[keep].apply(lambda col: col.str.strip())
    _check_text(frame, path)
    return frame


def _check_text(frame: pd.DataFrame, path: Path) -> None:
    empty = frame.index[(frame["subject"] == "") & (frame["body"] == "")]
    if len(empty):
        rows = ", ".join(str(_row_number(path, i)) for i in empty[:_SHOWN_ROWS])
        more = f" and {len(empty) - _SHOWN_ROWS} more" if len(empty) > _SHOWN_ROWS else ""
        noun = "row" if len(empty) == 1 else "rows"
        raise DataError(f"{path}: {noun} {rows}{more}: empty text (subject and body are "
                        "both empty); fill one in or delete the row")
