"""Labels in and out as CSV: import a spreadsheet of corrections, export training data.

Import takes a ticket reference (`ref`, e.g. SD-000123) or a `message_id` per row plus any
of the head columns (`type`, `priority`, `queue`; an empty cell means no label), separated
by commas or by semicolons (what a Spanish spreadsheet writes). The whole file is checked
first and nothing is recorded unless every row is understood, so a half-imported file
never has to be untangled; every bad row is named at once. A label that is already the
message's label is not recorded again, so importing a file twice changes nothing. Export
writes the training-data format (subject, body, type, priority, queue, language), one row
per message with a human label.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, select

from pipeline.errors import DataError
from pipeline.schema import inbound, tickets
from pipeline.tracking import labels

EXPORT_COLUMNS = ("subject", "body", "type", "priority", "queue", "language")


@dataclass(frozen=True)
class Planned:
    row: int
    inbound_id: int
    head: str
    label: str


@dataclass(frozen=True)
class Imported:
    new: int
    present: int


def read_rows(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as UTF-8 text ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text), delimiter=_delimiter(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if not ({"ref", "message_id"} & set(fields)) or not (set(labels.HEADS) & set(fields)):
        raise DataError(f"{path}: row 1 (header): needs a ref or message_id column and at least "
                        f"one of {', '.join(labels.HEADS)} (found: {', '.join(fields) or 'none'})")
    return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            for row in reader]


def _delimiter(text: str) -> str:
    """`,`, `;` or a tab, as the header row uses them (Excel in Spanish writes `;`)."""
    try:
        return csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def plan_import(conn: Connection, path: Path, model: Any | None = None) -> list[Planned]:
    """Every label the file asks for, or one DataError naming every bad row."""
    planned, problems = [], []
    for number, row in enumerate(read_rows(path), start=2):
        target = _target(conn, row)
        if target is None:
            problems.append(f"row {number}: no message for "
                            f"{row.get('ref') or row.get('message_id') or '(empty id)'}")
            continue
        for head in labels.HEADS:
            word = row.get(head, "")
            label = labels.resolve(head, word, model) if word else None
            if word and label is None:
                valid = ", ".join(labels.known_labels(head, model))
                problems.append(f"row {number}: {head} {word!r} is not a known label (valid: {valid})")
            elif label is not None:
                planned.append(Planned(number, target, head, label))
    if problems:
        raise DataError(f"{path}: {len(problems)} row(s) not understood, nothing imported:\n  "
                        + "\n  ".join(problems))
    return planned


def _target(conn: Connection, row: dict[str, str]) -> int | None:
    if row.get("ref"):
        ticket = select(tickets.c.id).where(tickets.c.ref == row["ref"].upper())
        return conn.execute(select(inbound.c.id).where(
            inbound.c.ticket_id.in_(ticket), inbound.c.is_followup.is_(False))
            .order_by(inbound.c.id).limit(1)).scalar()
    mid = row.get("message_id", "")
    mid = mid if mid.startswith("<") else f"<{mid}>"
    return conn.execute(select(inbound.c.id).where(inbound.c.message_id == mid)
                        .order_by(inbound.c.id).limit(1)).scalar()


def import_file(engine: Engine, path: Path, author: str, model: Any | None = None) -> Imported:
    with engine.begin() as conn:
        planned = plan_import(conn, path, model)
        current = labels.latest(conn, {item.inbound_id for item in planned})
        fresh = [item for item in planned
                 if current.get((item.inbound_id, item.head), {}).get("label") != item.label]
        for item in fresh:
            labels.record(conn, item.inbound_id, item.head, item.label, "import", author)
    return Imported(len(fresh), len(planned) - len(fresh))


def labelled_rows(engine: Engine) -> list[dict[str, Any]]:
    """Messages with at least one human label, oldest first, in the training format."""
    with engine.connect() as conn:
        truth = labels.latest(conn)
        first = labels.first_labelled(conn)
        ids = sorted({inbound_id for inbound_id, _ in truth})
        query = select(inbound.c.id, inbound.c.subject, inbound.c.body_text, inbound.c.language,
                       inbound.c.received_at).where(inbound.c.id.in_(ids))
        messages = {r.id: r for r in conn.execute(query)}
    rows = []
    for inbound_id in ids:
        msg = messages[inbound_id]
        row = {"inbound_id": inbound_id, "received_at": msg.received_at,
               "labelled_at": first.get(inbound_id),
               "subject": msg.subject or "", "body": msg.body_text or "",
               "language": msg.language if msg.language in ("es", "en") else ""}
        for head in labels.HEADS:
            found = truth.get((inbound_id, head))
            row[head] = found["label"] if found else ""
        rows.append(row)
    return sorted(rows, key=lambda r: (r["received_at"], r["inbound_id"]))


def write_training_csv(rows: list[dict[str, Any]], out: TextIO) -> int:
    writer = csv.DictWriter(out, EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    kept = [r for r in rows if (r["subject"] or r["body"]).strip()]
    writer.writerows(kept)
    return len(kept)
