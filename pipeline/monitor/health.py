"""What /healthz answers: the database answers and every mailbox polled successfully within
3 x its poll interval (a daemon that just started gets that long for its first poll)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select, text

from pipeline.config import Config
from pipeline.monitor import counters
from pipeline.schema import inbound, outbox

GRACE = 3  # poll intervals


def outbox_depth(engine: Engine) -> dict[str, int]:
    """Queued mails per mailbox of the message that caused them."""
    query = (select(inbound.c.mailbox, func.count()).select_from(outbox)
             .join(inbound, inbound.c.id == outbox.c.inbound_id)
             .where(outbox.c.state == "queued").group_by(inbound.c.mailbox))
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        return {mailbox: int(n) for mailbox, n in conn.execute(query)}


def check(engine: Engine, config: Config, started: float, now: float | None = None) -> tuple[int, dict]:
    now = time.time() if now is None else now
    reasons: list[str] = []
    try:
        depth, database = outbox_depth(engine), "ok"
    except Exception as exc:
        depth, database = {}, "failing"
        reasons.append(f"database: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    boxes: dict[str, Any] = {}
    for mailbox in config.mailboxes:
        last = counters.last_success(mailbox.name)
        last = last if last is not None and last >= started else None  # this daemon's polls only
        limit = GRACE * mailbox.poll_interval
        if (last if last is not None else started) < now - limit:
            reasons.append(f"mailbox {mailbox.name}: no successful poll in {limit} s")
        boxes[mailbox.name] = {"last_success": _iso(last), "outbox_depth": depth.get(mailbox.name, 0)}
    body = {"status": "failing" if reasons else "ok", "database": database, "mailboxes": boxes,
            "reasons": reasons}
    return (503 if reasons else 200), body


def _iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")
