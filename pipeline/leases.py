"""Named leases in the database: who fetches a mailbox, which daemons are alive, who leads.

A lease is a row (name, owner, until). Taking or renewing it is one conditional UPDATE
(free, expired, already ours, or held by a dead predecessor on this host), so two daemons
racing for it cannot both win on either engine; the first insert of a name races too,
and the loser's IntegrityError just means "try the UPDATE". Leases are short (TTL) and
renewed by the daemon's heartbeat; a daemon that dies stops renewing and another takes
over within TTL, or at once when it restarts on the same host.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from pipeline import instance
from pipeline.db import as_utc, utcnow
from pipeline.schema import leases

TTL = timedelta(seconds=30)
log = logging.getLogger("triaje.leases")


def acquire(engine: Engine, name: str, owner: str, ttl: timedelta = TTL) -> bool:
    """Take or renew `name` for `owner`; True when `owner` holds it afterwards."""
    now = utcnow()
    with engine.begin() as conn:
        current = conn.execute(select(leases.c.owner, leases.c.until)
                               .where(leases.c.name == name)).first()
        if current is None:
            try:
                with conn.begin_nested():
                    conn.execute(leases.insert().values(name=name, owner=owner, until=now + ttl))
                return True
            except IntegrityError:  # another daemon inserted it a moment ago
                return False
        takeable = [leases.c.owner == owner, leases.c.until < now]
        if instance.is_dead(current.owner, owner):
            takeable.append(leases.c.owner == current.owner)
        return conn.execute(update(leases).where(leases.c.name == name, or_(*takeable))
                            .values(owner=owner, until=now + ttl)).rowcount == 1


def release(engine: Engine, name: str, owner: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(leases).where(leases.c.name == name, leases.c.owner == owner)
                     .values(until=utcnow() - timedelta(seconds=1)))


def holder(engine: Engine, name: str) -> str | None:
    with engine.connect() as conn:
        row = conn.execute(select(leases.c.owner, leases.c.until).where(leases.c.name == name)).first()
    return row.owner if row is not None and as_utc(row.until) >= utcnow() else None


def live(engine: Engine, prefix: str) -> int:
    """How many unexpired leases start with `prefix` (e.g. "daemon:": daemons alive)."""
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(leases).where(
            leases.c.name.startswith(prefix), leases.c.until >= utcnow())).scalar_one()


def held_by(engine: Engine, prefix: str, owner: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(leases.c.name).where(
            leases.c.name.startswith(prefix), leases.c.owner == owner,
            leases.c.until >= utcnow())).scalars())


class Renewing:
    """`with Renewing(renew, every):` calls `renew()` every `every` seconds in a thread of
    its own while the block runs, so a claim can be short (a dead holder is replaced within
    its lease) yet outlast slow work in hand: a 200-message batch on a slow machine, an SMTP
    server that takes minutes to answer DATA. The block itself is never interrupted; a
    failed renewal (the database away) is logged and tried again at the next tick, and the
    claim simply expires if the database stays away past the lease."""

    def __init__(self, renew: Callable[[], object], every: float, what: str = "claim") -> None:
        self.renew, self.every, self.what = renew, every, what
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"renew {what}", daemon=True)

    def __enter__(self) -> Renewing:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.done.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.done.wait(self.every):
            try:
                self.renew()
            except Exception as exc:  # the next tick tries again; the lease is the backstop
                log.warning("could not renew the %s (%s); retrying", self.what, exc)
