"""Quarantine: messages a stage could not handle, kept whole with the reason, and retried."""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from pipeline.errors import TriajeError
from pipeline.process import runner
from pipeline.schema import FETCHED, QUARANTINED, inbound
from pipeline.services import Services

COLUMNS = (inbound.c.id, inbound.c.mailbox, inbound.c.uid, inbound.c.message_id,
           inbound.c.stage, inbound.c.reason, inbound.c.size, inbound.c.attempts,
           inbound.c.received_at)


def list_rows(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(*COLUMNS).where(inbound.c.state == QUARANTINED)
                            .order_by(inbound.c.id)).mappings().all()
    return [_jsonable(dict(r)) for r in rows]


def show(engine: Engine, inbound_id: int) -> tuple[dict, bytes]:
    with engine.connect() as conn:
        row = conn.execute(select(*COLUMNS, inbound.c.raw, inbound.c.state).where(
            inbound.c.id == inbound_id)).mappings().first()
    if row is None or row["state"] != QUARANTINED:
        raise TriajeError(f"no quarantined message with id {inbound_id} "
                          "(see `triaje quarantine list`)")
    info = _jsonable({k: v for k, v in row.items() if k not in ("raw", "state")})
    return info, bytes(row["raw"])


def retry(env: Services, ids: list[int] | None) -> runner.Summary:
    """Put messages back to 'fetched' and run the stages again; None means all."""
    with env.engine.begin() as conn:
        query = update(inbound).where(inbound.c.state == QUARANTINED)
        if ids is not None:
            query = query.where(inbound.c.id.in_(ids))
        conn.execute(query.values(state=FETCHED))
    with env.engine.connect() as conn:
        query = select(inbound.c.id).where(inbound.c.state == FETCHED)
        if ids is not None:
            query = query.where(inbound.c.id.in_(ids))
        todo = list(conn.execute(query.order_by(inbound.c.id)).scalars())
    return runner.process_ids(env, todo)


def _jsonable(row: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
