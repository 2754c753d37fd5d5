"""Work claims: two workers on the same rows make exactly one ticket and one ack each.

Runs on both engines (TRIAJE_TEST_DATABASE). Each worker is a Services of its own (its own
engine and instance id), as two daemons, or a daemon and `poll --once`, would be.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from conftest import make_mail
from helpers import build_env
from sqlalchemy import func, select

from pipeline.errors import ClaimLost
from pipeline.ingest import rawstore
from pipeline.ingest.rawstore import Origin
from pipeline.process import inboundstate, quarantine, runner
from pipeline.schema import inbound, outbox, tickets


def _worker(database_url, tmp_path):
    return build_env({"database": {"url": database_url}, "mailboxes": [],
                      "desk": {"addresses": ["desk@example.org"]},
                      "routing": {"default": ["n1@example.org"]},
                      "classifier": {"models_dir": str(tmp_path / "models")}})


def _store(env, n: int) -> list[int]:
    with env.engine.begin() as conn:
        return [rawstore.store_raw(conn, Origin("desk", "INBOX", 1, uid),
                                   make_mail(subject=f"No funciona {uid}", sender=f"u{uid}@example.com"))
                for uid in range(1, n + 1)]


def _counts(env) -> dict[str, int]:
    with env.engine.connect() as conn:
        states = dict(conn.execute(select(inbound.c.state, func.count()).group_by(inbound.c.state)).all())
        acks = conn.execute(select(func.count()).select_from(outbox).where(outbox.c.kind == "ack"))
        return {"tickets": conn.execute(select(func.count()).select_from(tickets)).scalar_one(),
                "acks": acks.scalar_one(), **states}


def test_two_workers_racing_on_the_same_rows_make_one_ticket_and_one_ack_each(database_url,
                                                                              tmp_path):
    first, second = _worker(database_url, tmp_path), _worker(database_url, tmp_path)
    ids = _store(first, 60)
    errors: list[BaseException] = []

    def work(env, run) -> None:
        try:
            run(env)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(first, runner.process_pending)),
               threading.Thread(target=work, args=(second, lambda env: runner.process_ids(env, ids))),
               threading.Thread(target=work, args=(second, lambda env: quarantine.retry(env, None)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert _counts(first) == {"tickets": 60, "acks": 60, "processed": 60}
    with first.engine.connect() as conn:
        owners = set(conn.execute(select(inbound.c.claimed_by)).scalars())
    assert owners <= {first.instance, second.instance}


def test_a_worker_whose_claim_was_taken_over_writes_nothing(database_url, tmp_path):
    """The issue's double: the slow worker's lease ends, another takes the rows and
    registers them; the slow one then neither opens a ticket nor flips them to quarantine."""
    slow, quick = _worker(database_url, tmp_path), _worker(database_url, tmp_path)
    ids = _store(slow, 5)
    claimed = inboundstate.claim(slow.engine, slow.instance, 10, lease=timedelta(seconds=-1))
    assert claimed == ids
    loaded = runner._load(slow, claimed)  # the slow worker read its batch, then stalled
    assert runner.process_pending(quick).new_tickets == 5
    summary = runner.Summary()
    runner.process_batch(slow, loaded, summary)
    assert summary.new_tickets == summary.quarantined == 0
    assert not inboundstate.quarantine(slow.engine, ids[0], "thread", "late", slow.instance)
    assert _counts(slow) == {"tickets": 5, "acks": 5, "processed": 5}


def test_register_refuses_a_row_it_does_not_hold(database_url, tmp_path):
    env = _worker(database_url, tmp_path)
    ids = _store(env, 1)
    loaded = runner._load(env, inboundstate.claim(env.engine, env.instance, 1))
    inboundstate.release(env.engine, env.instance, ids)  # as if someone took it back
    failures: list[runner.Failure] = []
    with env.engine.begin() as conn:
        runner._run_each(env, loaded[0], runner.stages.READ_STAGES, failures)
        runner._run_batch(env, loaded, failures)
        assert not runner._write(env, conn, loaded[0], failures)
    assert [type(f.error) for f in failures] == [ClaimLost]
    assert _counts(env) == {"tickets": 0, "acks": 0, "fetched": 1}


def test_a_claim_is_renewed_while_its_batch_is_processed(database_url, tmp_path, monkeypatch):
    """Item 5: a batch that takes longer than the (short) lease keeps its claim, so a
    second worker looking for work all the while takes none of it; once the batch is done,
    nothing is left to take."""
    lease = timedelta(seconds=1.5)
    monkeypatch.setattr(inboundstate, "LEASE", lease)
    slow, quick = _worker(database_url, tmp_path), _worker(database_url, tmp_path)
    _store(slow, 5)

    def dawdle(work, env) -> None:  # a slow machine: the batch outlasts the lease twice
        if env is slow:
            time.sleep(4 * lease.total_seconds() / 5)

    monkeypatch.setattr(runner.stages, "READ_STAGES", [*runner.stages.READ_STAGES, ("dawdle", dawdle)])
    ids = inboundstate.claim(slow.engine, slow.instance, 10, lease=lease)
    batch = threading.Thread(target=runner.process_claimed, args=(slow, ids, runner.Summary()))
    batch.start()
    taken = []
    while batch.is_alive():
        taken += inboundstate.claim(quick.engine, quick.instance, 10, lease=lease)
        time.sleep(0.2)
    batch.join()
    assert taken == []
    assert _counts(slow) == {"tickets": 5, "acks": 5, "processed": 5}
    with slow.engine.connect() as conn:
        assert set(conn.execute(select(inbound.c.claimed_by)).scalars()) == {slow.instance}
