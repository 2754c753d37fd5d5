"""Inbound rows as the processing side sees them: claims, which wait, and quarantine.

A worker claims a batch before processing it: the rows become `processing` with its
instance id (`claimed_by`) and a short lease. On PostgreSQL the claim selects with
`FOR UPDATE SKIP LOCKED`, so two workers never wait for each other and never get the
same row; on SQLite the engine's `BEGIN IMMEDIATE` holds the write lock, so the
conditional UPDATE is the whole claim. Every later write (`hold`, register, quarantine)
is conditional on still holding the claim: a worker whose lease ran out and was taken
over writes nothing. A row whose lease ran out (its worker died) is claimable again.
While a batch is processed, `renewing` extends the claim every third of the lease, so the
lease stays short (a dead worker's rows wait at most 30 s) however long the batch takes.

A message a stage could not handle keeps its raw bytes; only its state, the stage and the
reason change, and `triaje quarantine retry` puts it back to `fetched`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, or_, select, update

from pipeline import instance, leases
from pipeline.db import utcnow
from pipeline.schema import FETCHED, PROCESSING, QUARANTINED, inbound

LEASE = timedelta(seconds=30)


def _claimable(now: datetime):
    return or_(inbound.c.state == FETCHED,
               and_(inbound.c.state == PROCESSING, inbound.c.lease_until < now))


def claim(engine: Engine, owner: str, limit: int, ids: Iterable[int] | None = None,
          mailbox: str | None = None, lease: timedelta = LEASE) -> list[int]:
    """Up to `limit` waiting rows (of `ids`, or of `mailbox`, or any), now ours."""
    now = utcnow()
    query = (select(inbound.c.id).where(_claimable(now)).order_by(inbound.c.id).limit(limit)
             .with_for_update(skip_locked=True))  # SQLite: no clause, BEGIN IMMEDIATE locks
    if ids is not None:
        query = query.where(inbound.c.id.in_(list(ids)))
    if mailbox is not None:
        query = query.where(inbound.c.mailbox == mailbox)
    with engine.begin() as conn:
        found = list(conn.execute(query).scalars())
        if found:
            conn.execute(update(inbound).where(inbound.c.id.in_(found), _claimable(now))
                         .values(state=PROCESSING, claimed_by=owner, lease_until=now + lease))
    return found


def hold(conn: Connection, owner: str, ids: list[int], lease: timedelta = LEASE) -> set[int]:
    """In the writing transaction: renew our claim on `ids`, return those still ours. On
    PostgreSQL the UPDATE also locks them until commit, so nobody takes them meanwhile."""
    if not ids:
        return set()
    mine = and_(inbound.c.id.in_(ids), inbound.c.state == PROCESSING,
                inbound.c.claimed_by == owner)
    conn.execute(update(inbound).where(mine).values(lease_until=utcnow() + lease))
    return set(conn.execute(select(inbound.c.id).where(mine)).scalars())


def renew(engine: Engine, owner: str, ids: list[int], lease: timedelta = LEASE) -> int:
    """Extend our claim on those of `ids` still ours; a row taken over stays taken."""
    if not ids:
        return 0
    with engine.begin() as conn:
        return conn.execute(update(inbound).where(
            inbound.c.id.in_(ids), inbound.c.state == PROCESSING, inbound.c.claimed_by == owner)
            .values(lease_until=utcnow() + lease)).rowcount


def renewing(engine: Engine, owner: str, ids: list[int],
             lease: timedelta | None = None) -> leases.Renewing:
    """`with renewing(...)`: our claim on `ids` outlives slow processing, not our death."""
    lease = lease or LEASE
    return leases.Renewing(lambda: renew(engine, owner, ids, lease),
                           lease.total_seconds() / 3, "inbound claim")


def release(engine: Engine, owner: str, ids: list[int]) -> int:
    """Give back claimed rows not processed (stopping, or an error outside the stages)."""
    if not ids:
        return 0
    with engine.begin() as conn:
        return conn.execute(update(inbound).where(
            inbound.c.id.in_(ids), inbound.c.state == PROCESSING, inbound.c.claimed_by == owner)
            .values(state=FETCHED, claimed_by=None, lease_until=None)).rowcount


def take_back_dead(engine: Engine, me: str) -> int:
    """Claims of a dead predecessor on this host are claimable now, not after the lease."""
    with engine.connect() as conn:
        owners = set(conn.execute(select(inbound.c.claimed_by).distinct().where(
            inbound.c.state == PROCESSING)).scalars())
    owners = [o for o in owners if instance.is_dead(o, me)]
    if not owners:
        return 0
    with engine.begin() as conn:
        return conn.execute(update(inbound).where(
            inbound.c.state == PROCESSING, inbound.c.claimed_by.in_(owners))
            .values(lease_until=utcnow() - timedelta(seconds=1))).rowcount


def quarantine(engine: Engine, inbound_id: int, stage: str, reason: str, owner: str) -> bool:
    """Only a row we still hold: a lost claim must not flip another worker's result."""
    with engine.begin() as conn:
        return conn.execute(update(inbound).where(
            inbound.c.id == inbound_id, inbound.c.state == PROCESSING,
            inbound.c.claimed_by == owner).values(
            state=QUARANTINED, stage=stage, reason=reason[:4000], processed_at=utcnow(),
            attempts=inbound.c.attempts + 1, lease_until=None)).rowcount == 1
