"""The review queue in the browser: lowest confidence first, then the audit sample, one case
at a time with the next few listed. Finding the next cases is an indexed walk (predictions
by confidence, skipping what was decided), so the page stays fast on a large database;
`tracking.review.items` then builds exactly the cases the terminal review would show.
A decision goes through `review.decide_item`: the same labels and re-route as a correction
by mail, stored with the reviewer's name."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine, exists, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pipeline.process.parse import parse_message
from pipeline.schema import audit_sample, inbound, predictions, review_log
from pipeline.schema import labels as labels_table
from pipeline.tracking import labels, review
from pipeline.web.desk import Desk
from pipeline.web.guard import page, refuse
from pipeline.web.sessions import Session

NEXT = 20


def _undecided(head_of_row: Any, id_of_row: Any):
    return ~exists().where(review_log.c.inbound_id == id_of_row, review_log.c.head == head_of_row)


def low_ids(engine: Engine, limit: int) -> list[int]:
    """Messages with an unsure, undecided, unlabelled prediction, lowest confidence first."""
    drawn = exists().where(audit_sample.c.inbound_id == predictions.c.inbound_id,
                           audit_sample.c.drawn.is_(True))
    labelled = exists().where(labels_table.c.inbound_id == predictions.c.inbound_id,
                              labels_table.c.head == predictions.c.head)
    query = (select(predictions.c.inbound_id).where(
        predictions.c.needs_review.is_(True),
        _undecided(predictions.c.head, predictions.c.inbound_id), ~labelled, ~drawn)
        .order_by(predictions.c.needs_review, predictions.c.confidence, predictions.c.inbound_id)
        .limit(limit * 3))
    with engine.connect() as conn:
        return list(dict.fromkeys(conn.execute(query).scalars()))[:limit]


def audit_ids(engine: Engine, limit: int) -> list[int]:
    """Audit-sample messages with a head nobody decided yet, in arrival order."""
    open_head = exists().where(predictions.c.inbound_id == audit_sample.c.inbound_id,
                               _undecided(predictions.c.head, predictions.c.inbound_id))
    query = (select(audit_sample.c.inbound_id).where(audit_sample.c.drawn.is_(True), open_head)
             .order_by(audit_sample.c.inbound_id).limit(limit))
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def queue(engine: Engine, limit: int = NEXT + 1) -> list[review.Item]:
    low = review.items(engine, low_ids(engine, limit))
    ordered = sorted(low, key=lambda i: (i.lowest, i.inbound_id))
    if len(ordered) < limit:
        ordered += review.items(engine, audit_ids(engine, limit - len(ordered)))
    return ordered[:limit]


def attachments(engine: Engine, inbound_id: int) -> list[str]:
    with engine.connect() as conn:
        raw = conn.execute(select(inbound.c.raw).where(inbound.c.id == inbound_id)).scalar()
    return [a.name for a in parse_message(bytes(raw)).attachments] if raw is not None else []


def _choices(desk: Desk, item: review.Item) -> dict[str, tuple[str, ...]]:
    model = desk.model()
    return {h.head: labels.known_labels(h.head, model) for h in item.heads}


def _show(request: Request, desk: Desk, session: Session, item: review.Item | None,
          upcoming: list[review.Item], status: int = 200) -> Response:
    return desk.page(request, "review.html.j2", session, status=status, item=item,
                     upcoming=upcoming, choices=_choices(desk, item) if item else {},
                     files=attachments(desk.engine, item.inbound_id) if item else [],
                     done=request.query_params.get("done"),
                     rerouted=request.query_params.get("to"))


@page()
def review_queue(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    found = queue(desk.engine)
    return _show(request, desk, session, found[0] if found else None, found[1:])


@page()
def review_case(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    item = _one(desk, request)
    if item is None:
        return refuse(request, desk, session, "not_found", 404)
    others = [i for i in queue(desk.engine) if i.inbound_id != item.inbound_id]
    return _show(request, desk, session, item, others)


def _one(desk: Desk, request: Request) -> review.Item | None:
    try:
        inbound_id = int(request.path_params["inbound_id"])
    except ValueError:
        return None
    found = review.items(desk.engine, [inbound_id])
    return found[0] if found else None


def decisions(item: review.Item, form: Any, choices: dict[str, tuple[str, ...]],
              action: str) -> list[tuple[str, str, str | None]] | None:
    """Per head shown: skip, accept (the label that stands) or correct; None if a label
    is not one of the choices."""
    found: list[tuple[str, str, str | None]] = []
    for head in item.heads:
        standing = head.current or head.predicted
        if action == "skip":
            found.append((head.head, "skip", None))
            continue
        given = str(form.get(head.head) or standing) if action == "save" else standing
        if given not in choices[head.head] and given != standing:
            return None
        found.append((head.head, "accept" if given == standing else "correct", given))
    return found


@page()
def decide(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    item = _one(desk, request)
    if item is None:
        return refuse(request, desk, session, "not_found", 404)
    action = str(form.get("action") or "save")
    found = decisions(item, form, _choices(desk, item), action) if action in ("save", "accept", "skip") \
        else None
    if found is None:
        return refuse(request, desk, session, "bad_request", 400)
    note = str(form.get("note") or "").strip()[:2000] or None
    sent = review.decide_item(desk.engine, desk.config, desk.model(), item.inbound_id, found,
                              session.name, note)
    done = {"done": item.ticket_ref, **({"to": ", ".join(sent)} if sent else {})}
    target = f"/review?{urlencode(done)}"
    return RedirectResponse(target, status_code=303)

