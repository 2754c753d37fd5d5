"""Run-once work across daemons, on both engines: migrations, and the leader's jobs."""

from __future__ import annotations

import threading

from conftest import ENGINE
from helpers import build_env
from sqlalchemy import inspect

from pipeline import db
from pipeline.tracking import retrain


def _fresh_url(request, tmp_path) -> str:
    """An empty database, not even migrated (the per-test ones are)."""
    if ENGINE == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    server = request.getfixturevalue("postgres")
    name = f"fresh_{tmp_path.name.lower()[-20:].replace('-', '_')}"
    server.admin(f"CREATE DATABASE {name}")
    return server.url(name)


def test_daemons_starting_together_migrate_once(request, tmp_path):
    url = _fresh_url(request, tmp_path)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        engine = db.make_engine(url)
        barrier.wait()
        try:
            db.migrate(engine)
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    engine = db.make_engine(url)
    assert {"inbound", "leases", "settings", "sent_journal"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_scheduled_jobs_run_in_one_daemon_only(database_url, tmp_path):
    daemons = [build_env({"database": {"url": database_url}, "mailboxes": [],
                          "classifier": {"models_dir": str(tmp_path / "models")}})
               for _ in range(3)]
    ran: list[str] = []

    def job(env) -> None:
        ran.append(env.instance)

    for env in daemons:  # the cron fires in every daemon at about the same moment
        retrain._as_leader(job, env)
    assert ran == [daemons[0].instance]
    retrain._as_leader(job, daemons[0])  # the next week: the same leader
    assert ran == [daemons[0].instance] * 2
