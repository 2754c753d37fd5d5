"""Owned leases on both engines: mailbox leases, takeover, dead predecessors, last_uid."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from pipeline import instance, leases
from pipeline.db import as_utc, open_database, utcnow
from pipeline.ingest import mailboxstate
from pipeline.ingest.mailboxstate import FolderState
from pipeline.ingest.ownership import Ownership
from pipeline.outbound import sender
from pipeline.process import inboundstate
from pipeline.schema import inbound, mailbox_state, outbox


def dead_owner() -> str:
    """The id a process of this host had before it died."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return f"{instance.HOST}:{int(proc.stdout)}:deadbeef"


def test_a_lease_has_one_holder_until_it_expires(database_url):
    engine = open_database(database_url)
    assert leases.acquire(engine, "mailbox:desk", "other-host:1:a")
    assert not leases.acquire(engine, "mailbox:desk", "other-host:2:b")
    assert leases.acquire(engine, "mailbox:desk", "other-host:1:a")  # renewal
    assert leases.acquire(engine, "x", "other-host:1:a", ttl=timedelta(seconds=-1))
    assert leases.acquire(engine, "x", "other-host:2:b")  # expired: taken over
    assert leases.holder(engine, "x") == "other-host:2:b"
    engine.dispose()


def test_a_dead_predecessor_on_this_host_is_replaced_at_once(database_url):
    engine = open_database(database_url)
    me, dead = instance.new_id(), dead_owner()
    assert leases.acquire(engine, "mailbox:desk", dead)
    assert leases.acquire(engine, "mailbox:desk", me)  # its 30 s are not waited out
    live_neighbour = f"{instance.HOST}:1:cafe"  # pid 1 is alive: left to its lease
    assert leases.acquire(engine, "mailbox:other", live_neighbour)
    assert not leases.acquire(engine, "mailbox:other", me)
    engine.dispose()


def test_many_daemons_racing_for_a_new_lease_give_one_holder(database_url):
    engines = [open_database(database_url) for _ in range(6)]
    won: list[str] = []
    barrier = threading.Barrier(len(engines))

    def race(i: int) -> None:
        barrier.wait()
        if leases.acquire(engines[i], "mailbox:new", f"h{i}:1:x"):
            won.append(f"h{i}:1:x")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(won) == 1 and leases.holder(engines[0], "mailbox:new") == won[0]
    for engine in engines:
        engine.dispose()


def test_mailboxes_spread_across_daemons_and_move_when_one_stops(database_url):
    engine = open_database(database_url)
    boxes = ["a", "b", "c", "d"]
    first, second = Ownership(engine, "h:1:a", boxes), Ownership(engine, "h:2:b", boxes)
    first.heartbeat()
    second.heartbeat()
    taken = {box: [o.take(box) for o in (first, second)] for box in boxes}
    assert all(sum(got) == 1 for got in taken.values())
    assert len(first.held) == len(second.held) == 2
    first.release_all()
    assert all(second.take(box) for box in boxes)  # alone now: all four
    engine.dispose()


def test_last_uid_only_moves_forward_and_the_first_insert_race_is_absorbed(database_url):
    engines = [open_database(database_url) for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(engines))

    def first_contact(i: int) -> None:
        barrier.wait()
        try:
            with engines[i].begin() as conn:
                mailboxstate.save(conn, "desk", "INBOX", FolderState(9, 10 + i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_contact, args=(i,)) for i in range(len(engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with engines[0].begin() as conn:
        assert mailboxstate.load(conn, "desk", "INBOX") == FolderState(9, 13)
        mailboxstate.save(conn, "desk", "INBOX", FolderState(9, 5))  # a stale fetcher
        assert mailboxstate.load(conn, "desk", "INBOX") == FolderState(9, 13)
        mailboxstate.save(conn, "desk", "INBOX", FolderState(11, 0))  # UIDVALIDITY changed
        assert mailboxstate.load(conn, "desk", "INBOX") == FolderState(11, 0)
    for engine in engines:
        engine.dispose()


def test_a_first_insert_committed_between_our_two_statements_does_not_hold_us_back(
        database_url, monkeypatch):
    """PostgreSQL reads each statement afresh: our UPDATE finds no row, then another daemon's
    first contact (at an older position) commits before our SELECT. Our position still wins.
    SQLite's BEGIN IMMEDIATE lets nobody in between, so there the other insert waits."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: no statement can come in between")
    ours, theirs = open_database(database_url), open_database(database_url)
    real_load = mailboxstate.load

    def load_after_their_insert(conn, mailbox, folder):
        with theirs.begin() as other:
            other.execute(mailbox_state.insert().values(
                mailbox=mailbox, folder=folder, uidvalidity=9, last_uid=5, updated_at=utcnow()))
        monkeypatch.setattr(mailboxstate, "load", real_load)
        return real_load(conn, mailbox, folder)

    monkeypatch.setattr(mailboxstate, "load", load_after_their_insert)
    with ours.begin() as conn:
        mailboxstate.save(conn, "desk", "INBOX", FolderState(9, 13))
    with ours.connect() as conn:
        assert real_load(conn, "desk", "INBOX") == FolderState(9, 13)
    ours.dispose()
    theirs.dispose()


def test_a_restart_takes_back_its_dead_predecessors_claims_at_once(database_url):
    engine = open_database(database_url)
    dead, me, now = dead_owner(), instance.new_id(), utcnow()
    with engine.begin() as conn:
        inbound_id = conn.execute(inbound.insert().values(
            mailbox="desk", folder="INBOX", dedupe_key="k", raw=b"x", size=1, state="processing",
            attempts=0, received_at=now, server_done=True, claimed_by=dead,
            lease_until=now + timedelta(minutes=5))).inserted_primary_key[0]
        conn.execute(outbox.insert().values(
            kind="ack", recipients="ana@example.org", message_id="<m@x>", raw=b"x",
            state="queued", attempts=1, next_attempt_at=now + timedelta(minutes=10),
            created_at=now, claimed_by=dead))
    assert inboundstate.claim(engine, me, 10) == []  # leased for five more minutes
    assert inboundstate.take_back_dead(engine, me) == 1
    assert sender.take_back_dead(engine, me) == 1
    assert inboundstate.claim(engine, me, 10) == [inbound_id]
    with engine.connect() as conn:
        due = conn.execute(select(outbox.c.next_attempt_at)).scalar_one()
    assert as_utc(due) <= utcnow()
    engine.dispose()
