"""What `triaje outbox list|retry` does: look at outgoing mail and put failed mail back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update

from pipeline.db import as_utc, utcnow
from pipeline.schema import outbox

STATES = ("queued", "sent", "failed")
LIST_COLUMNS = [c for c in outbox.c if c.name != "raw"]


def list_rows(engine: Engine, state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first, without the message bytes."""
    query = select(*LIST_COLUMNS).order_by(outbox.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(outbox.c.state == state)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def retry(engine: Engine, ids: list[int] | None = None, now: datetime | None = None) -> int:
    """Put failed rows back in the queue (all of them when `ids` is None), due at once."""
    now = as_utc(now or utcnow())
    query = update(outbox).where(outbox.c.state == "failed")
    if ids is not None:
        query = query.where(outbox.c.id.in_(ids))
    with engine.begin() as conn:
        result = conn.execute(query.values(state="queued", attempts=0, next_attempt_at=now))
    return result.rowcount
