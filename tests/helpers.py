"""Small helpers shared by the integration tests."""

from __future__ import annotations

from sqlalchemy import func, select

from pipeline import config as configmod
from pipeline import services
from pipeline.ingest import poller
from pipeline.outbound import sender
from pipeline.schema import inbound, tickets


def build_env(cfg: dict, with_model: bool = False) -> services.Services:
    return services.build(configmod.from_dict(cfg, "test"), with_model=with_model)


def count(env: services.Services, table=tickets, *where) -> int:
    with env.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def inbound_rows(env: services.Services) -> list[dict]:
    with env.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(inbound).order_by(inbound.c.id)).mappings()]


def run_cycle(env: services.Services) -> object:
    """One poll of every mailbox (all reachable), then one outbox drain, as the daemon does."""
    summary, failed = poller.poll_once(env)
    assert failed == []
    sender.drain(env.engine, env.config.outbound)
    return summary
