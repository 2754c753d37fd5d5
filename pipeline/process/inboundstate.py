"""Inbound rows as the processing side sees them: which wait, and quarantine.

A message a stage could not handle keeps its raw bytes; only its state, the stage and the
reason change, and `triaje quarantine retry` puts it back to `fetched`.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select, update

from pipeline.db import utcnow
from pipeline.schema import QUARANTINED, inbound


def ids_in_state(conn: Connection, state: str, mailbox: str | None = None) -> list[int]:
    query = select(inbound.c.id).where(inbound.c.state == state).order_by(inbound.c.id)
    if mailbox is not None:
        query = query.where(inbound.c.mailbox == mailbox)
    return list(conn.execute(query).scalars())


def load_raw(conn: Connection, inbound_id: int) -> tuple[bytes, str]:
    row = conn.execute(select(inbound.c.raw, inbound.c.mailbox).where(
        inbound.c.id == inbound_id)).one()
    return bytes(row.raw), row.mailbox


def quarantine(engine: Engine, inbound_id: int, stage: str, reason: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(inbound).where(inbound.c.id == inbound_id).values(
            state=QUARANTINED, stage=stage, reason=reason[:4000], processed_at=utcnow(),
            attempts=inbound.c.attempts + 1))
