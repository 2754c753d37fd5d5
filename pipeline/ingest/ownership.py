"""Which daemon fetches which mailbox: one at a time, through a lease per mailbox.

Each daemon takes free mailbox leases up to its fair share (mailboxes / daemons alive,
rounded up), so mailboxes spread across daemons; it renews what it holds from its
heartbeat and at every poll, and gives one back when it holds more than its share (a
daemon joined). When a daemon dies its leases expire after TTL and the others take the
mailboxes over at their next poll; a daemon restarting on the same host takes its dead
predecessor's leases back at once (leases.acquire asks pipeline/instance.py).

`poll --once` takes no lease: a fetch beside the owner is safe (dedupe key, forward-only
last_uid, work claims), only wasteful.
"""

from __future__ import annotations

import logging
import math
import threading

from sqlalchemy import Engine

from pipeline import leases

log = logging.getLogger("triaje.ownership")
HEARTBEAT_SECONDS = 10.0
MAILBOX, DAEMON, LEADER = "mailbox:", "daemon:", "leader"


class Ownership:
    def __init__(self, engine: Engine, owner: str, mailboxes: list[str]) -> None:
        self.engine, self.owner, self.mailboxes = engine, owner, mailboxes
        self.held: set[str] = set()
        self.lock = threading.Lock()

    def owns(self, mailbox: str) -> bool:
        return mailbox in self.held

    def take(self, mailbox: str) -> bool:
        """Renew or take `mailbox`'s lease; True when this daemon may fetch it now."""
        with self.lock:
            name = MAILBOX + mailbox
            may_take = mailbox in self.held or len(self.held) < self.fair_share()
            if may_take and leases.acquire(self.engine, name, self.owner):
                if mailbox not in self.held:
                    log.info("mailbox=%s fetched by this daemon (%s)", mailbox, self.owner)
                self.held.add(mailbox)
                return True
            if mailbox in self.held:
                log.warning("mailbox=%s lease lost to %s", mailbox, leases.holder(self.engine, name))
            self.held.discard(mailbox)
            return False

    def fair_share(self) -> int:
        alive = max(1, leases.live(self.engine, DAEMON))
        return math.ceil(len(self.mailboxes) / alive)

    def heartbeat(self) -> None:
        leases.acquire(self.engine, DAEMON + self.owner, self.owner)
        if leases.holder(self.engine, LEADER) == self.owner:  # keep leading while alive
            leases.acquire(self.engine, LEADER, self.owner)
        for mailbox in sorted(self.held):
            self.take(mailbox)
        with self.lock:
            if len(self.held) > self.fair_share():
                extra = sorted(self.held)[-1]
                leases.release(self.engine, MAILBOX + extra, self.owner)
                self.held.discard(extra)
                log.info("mailbox=%s handed over: more daemons are running", extra)

    def release_all(self) -> None:
        with self.lock:
            for mailbox in self.held:
                leases.release(self.engine, MAILBOX + mailbox, self.owner)
            leases.release(self.engine, DAEMON + self.owner, self.owner)
            leases.release(self.engine, LEADER, self.owner)
            self.held.clear()


class Heartbeat(threading.Thread):
    """Renews this daemon's leases every HEARTBEAT_SECONDS (a third of leases.TTL)."""

    def __init__(self, ownership: Ownership, stop: threading.Event, also=()) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.ownership, self.stop, self.also = ownership, stop, also
        self.failing = False

    def run(self) -> None:
        while not self.stop.is_set():
            self.beat()
            self.stop.wait(HEARTBEAT_SECONDS)

    def beat(self) -> None:
        try:
            self.ownership.heartbeat()
            for renew in self.also:
                renew()
        except Exception as exc:  # the database is away: leases lapse, others take over
            if not self.failing:
                log.error("heartbeat: cannot renew leases (%s); retrying", exc)
            self.failing = True
        else:
            self.failing = False
