"""The review queue: what a person should check, and the record of what they decided.

First the predictions the model was unsure about, lowest confidence first, then the audit
sample (confident predictions drawn at random, in arrival order). A decision is stored the
moment it is made (accept: the prediction becomes a human label; correct: the new label;
skip: not shown again), so quitting at any point and coming back resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from pipeline import vocabulary
from pipeline.config import Config
from pipeline.db import utcnow
from pipeline.schema import audit_sample, inbound, predictions, review_log, tickets
from pipeline.tracking import corrections, labels

DECISIONS = ("accept", "correct", "skip")
LOW, AUDIT = "low_confidence", "audit"
# Why the model asked for a person, as the terminal review says it (the web desk: words.py).
WHY = {"unfamiliar": "unlike the mail it learned from", "low_confidence": "unsure",
       "no_threshold": "not yet reliable enough on this", "disagreement": "its two models disagree"}


@dataclass
class HeadItem:
    head: str
    predicted: str
    confidence: float
    needs_review: bool
    current: str | None = None  # the latest human label, if any
    why: str | None = None  # why the model asked for a person: unfamiliar, low_confidence...


@dataclass
class Item:
    inbound_id: int
    ticket_ref: str
    subject: str
    sender: str
    received_at: Any
    body: str
    reason: str  # low_confidence | audit
    heads: list[HeadItem] = field(default_factory=list)

    @property
    def lowest(self) -> float:
        return min((h.confidence for h in self.heads), default=1.0)


def pending(engine: Engine, include_skipped: bool = False) -> list[Item]:
    """Low-confidence items by rising confidence, then audit items by arrival."""
    found = items(engine, None, include_skipped)
    low = [i for i in found if i.reason == LOW]
    return sorted(low, key=lambda i: (i.lowest, i.inbound_id)) + [i for i in found if i.reason == AUDIT]


def items(engine: Engine, ids: list[int] | None, include_skipped: bool = False) -> list[Item]:
    """The messages `ids` (None: all) that still have a head to decide, in id order. The web
    desk finds the first few ids with an indexed query and builds only those."""
    with engine.connect() as conn:
        messages = _messages(conn, ids)
        found = [m["id"] for m in messages]
        preds = _predictions(conn, found)
        human = labels.latest(conn, found)
        decided = _decided(conn, include_skipped, found if ids is not None else None)
    built = [_item(msg, preds.get(msg["id"], []), human, decided) for msg in messages]
    return [item for item in built if item.heads]


def _messages(conn, ids: list[int] | None = None) -> list[dict]:
    query = (select(inbound.c.id, inbound.c.subject, inbound.c.sender, inbound.c.received_at,
                    inbound.c.body_text, tickets.c.ref, audit_sample.c.drawn)
             .join(tickets, tickets.c.id == inbound.c.ticket_id)
             .outerjoin(audit_sample, audit_sample.c.inbound_id == inbound.c.id)
             .where(inbound.c.state == "processed", inbound.c.is_followup.is_(False))
             .order_by(inbound.c.id))
    if ids is not None:
        query = query.where(inbound.c.id.in_(ids))
    return [dict(r._mapping) for r in conn.execute(query)]


def _predictions(conn, ids: list[int]) -> dict[int, list]:
    found: dict[int, dict[str, Any]] = {}
    query = select(predictions).where(predictions.c.inbound_id.in_(ids)).order_by(predictions.c.id)
    for row in conn.execute(query):
        found.setdefault(row.inbound_id, {}).setdefault(row.head, row)  # the routing one
    return {k: list(v.values()) for k, v in found.items()}


def _decided(conn, include_skipped: bool, ids: list[int] | None = None) -> set[tuple[int, str]]:
    wanted = ("accept", "correct") if include_skipped else DECISIONS
    query = select(review_log.c.inbound_id, review_log.c.head).where(
        review_log.c.decision.in_(wanted))
    if ids is not None:
        query = query.where(review_log.c.inbound_id.in_(ids))
    return {(r.inbound_id, r.head) for r in conn.execute(query)}


def _item(msg: dict, preds: list, human: dict, decided: set) -> Item:
    audit = bool(msg["drawn"])
    unsure = any(p.needs_review for p in preds)
    item = Item(msg["id"], msg["ref"], msg["subject"] or "", msg["sender"] or "",
                msg["received_at"], msg["body_text"] or "", AUDIT if audit else LOW)
    if not (audit or unsure):
        return item
    for p in sorted(preds, key=lambda p: _order(p.head)):
        key = (msg["id"], p.head)
        current = human.get(key, {}).get("label")
        if key in decided or (not audit and current is not None):
            continue  # an audit shows labelled heads too: the sample must be reviewed whole
        item.heads.append(HeadItem(p.head, p.label, float(p.confidence), bool(p.needs_review),
                                   current, p.review_reason if p.needs_review else None))
    return item


def _order(head: str) -> tuple[int, str]:
    return (labels.HEADS.index(head) if head in labels.HEADS else 99, head)


def decide(engine: Engine, inbound_id: int, head: str, decision: str, author: str,
           label: str | None = None) -> None:
    """Store one decision; accept and correct also record the human label (source review)."""
    with engine.begin() as conn:
        _store(conn, inbound_id, head, decision, author, label)


def decide_item(engine: Engine, config: Config | None, model: Any | None, inbound_id: int,
                decisions: list[tuple[str, str, str | None]], author: str,
                note: str | None = None) -> list[str]:
    """Store one case's decisions (head, decision, label) together and, when a label was
    corrected, re-route the case exactly as a correction by mail would (one routing mail
    for the whole case, queued in the same transaction). Returns where it was re-routed."""
    corrected: dict[str, str] = {}
    with engine.begin() as conn:
        for head, decision, label in decisions:
            if decision == "correct":
                _log(conn, inbound_id, head, decision, label, author)
                corrected[head] = str(label)
            else:
                _store(conn, inbound_id, head, decision, author, label)
        if not corrected:
            return []
        correction = corrections.for_case(conn, inbound_id, author, "review", corrected, note)
        if config is None:  # no desk to route for (a bare database): record the labels only
            corrections.record(conn, correction, None)
            return []
        return corrections.apply(conn, config, model, correction)


def _store(conn: Connection, inbound_id: int, head: str, decision: str, author: str,
           label: str | None) -> None:
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    if decision == "correct" and not label:
        raise ValueError("a correction needs the new label")
    if decision == "accept" and label is None:
        label = conn.execute(select(predictions.c.label).where(
            predictions.c.inbound_id == inbound_id, predictions.c.head == head)
            .order_by(predictions.c.id).limit(1)).scalar_one()
    _log(conn, inbound_id, head, decision, label, author)
    if decision != "skip":
        labels.record(conn, inbound_id, head, str(label), "review", author)


def _log(conn: Connection, inbound_id: int, head: str, decision: str, label: str | None,
         author: str) -> None:
    conn.execute(review_log.insert().values(
        inbound_id=inbound_id, head=head, decision=decision,
        label=label if decision != "skip" else None, author=author, created_at=utcnow()))


Ask = Callable[[str], str]


@dataclass
class Console:
    """The few I/O calls a session needs, so it runs in a terminal, under CliRunner or tmux."""

    echo: Callable[[str], None]
    key: Callable[[str], str]  # shows a prompt, returns one key
    ask: Ask  # shows a prompt, returns a line


def run_session(engine: Engine, console: Console, author: str, model: Any | None = None,
                limit: int | None = None, include_skipped: bool = False,
                config: Config | None = None) -> dict[str, int]:
    """Walk the queue until it is empty, `limit` messages were shown, or the user quits.
    Each case's decisions are stored when its last head is decided (or on quit)."""
    counts = {"accept": 0, "correct": 0, "skip": 0}
    items = pending(engine, include_skipped)
    total = len(items) if limit is None else min(limit, len(items))
    if not items:
        console.echo("Nothing to review.")
    for number, item in enumerate(items[:total], 1):
        console.echo(_header(item, number, total))
        decisions, quit_now = _ask_item(console, item, model)
        for _, decision, _ in decisions:
            counts[decision] += 1
        rerouted = decide_item(engine, config, model, item.inbound_id, decisions, author)
        if rerouted:
            console.echo(f"  re-routed to {', '.join(rerouted)}")
        if quit_now:
            console.echo("Stopped; the next review starts here.")
            return counts
    return counts


def _ask_item(console: Console, item: Item,
              model: Any | None) -> tuple[list[tuple[str, str, str | None]], bool]:
    decisions: list[tuple[str, str, str | None]] = []
    for head in item.heads:
        choice = _choose(console, head)
        if choice == "q":
            return decisions, True
        label = _label_for(choice, head, console, model)
        decisions.append((head.head, {"a": "accept", "c": "correct", "s": "skip"}[choice], label))
    return decisions, False


def _label_for(choice: str, head: HeadItem, console: Console, model: Any | None) -> str | None:
    """Accept confirms what stands (a person's earlier label, else the prediction)."""
    if choice == "c":
        return _new_label(console, head.head, model)
    return (head.current or head.predicted) if choice == "a" else None


def _header(item: Item, number: int, total: int) -> str:
    why = f"low confidence {item.lowest:.0%}" if item.reason == LOW else "audit sample"
    body = "\n".join(f"  | {line}" for line in item.body.strip().splitlines()[:8])
    return (f"\n[{number}/{total}] {item.ticket_ref}  ({why})  {item.sender}  "
            f"{str(item.received_at)[:16]}\nSubject: {item.subject}\n{body}")


def _choose(console: Console, head: HeadItem) -> str:
    extra = f"; a person said {vocabulary.name(head.head, head.current, 'en')!r}" \
        if head.current else ""
    predicted = vocabulary.name(head.head, head.predicted, "en")
    extra += f"; {WHY.get(head.why, head.why)}" if head.why else ""
    prompt = (f"  {head.head}: {predicted} ({head.confidence:.0%}{extra})  "
              "[a]ccept [c]orrect [s]kip [q]uit: ")
    while True:
        key = (console.key(prompt) or "").strip().lower()[:1]
        if key in ("a", "c", "s", "q"):
            return key
        console.echo("  press a, c, s or q")


def _new_label(console: Console, head: str, model: Any | None) -> str:
    valid = labels.known_labels(head, model)
    console.echo("  valid: " + "  ".join(f"{i}) {vocabulary.name(head, label, 'en')}"
                                         for i, label in enumerate(valid, 1)))
    while True:
        answer = console.ask(f"  new {head} (number or label): ").strip()
        if answer.isdigit() and 1 <= int(answer) <= len(valid):
            return valid[int(answer) - 1]
        label = labels.resolve(head, answer, model) if answer else None
        if label:
            return label
        console.echo(f"  {answer!r} is not a {head} label")
