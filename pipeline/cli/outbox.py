"""`triaje outbox list|retry|send`: look at outgoing mail, put failed mail back, send now."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from sqlalchemy import Engine

from pipeline import config
from pipeline.db import as_utc, open_database
from pipeline.outbound import admin, sender

COLUMNS = (("id", 6), ("state", 7), ("kind", 8), ("attempts", 8), ("ticket_id", 9),
           ("recipients", 30), ("next_attempt_at", 19), ("last_error", 0))


def _load(ctx: click.Context) -> tuple[config.Config, Engine]:
    obj = ctx.find_root().obj or {}
    cfg = config.load(obj.get("config_path"))
    return cfg, open_database(cfg.database_url)


@click.group("outbox")
def outbox_group() -> None:
    """Outgoing mail: acknowledgements and routing mails waiting, sent or failed."""


@outbox_group.command("list")
@click.option("--state", type=click.Choice([*admin.STATES, "all"]), default="all",
              show_default=True, help="Show only rows in this state.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def list_command(ctx: click.Context, state: str, limit: int, as_json: bool) -> None:
    """List outgoing mail, newest first."""
    _, engine = _load(ctx)
    rows = admin.list_rows(engine, None if state == "all" else state, limit)
    if as_json:
        for row in rows:
            click.echo(json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False))
        return
    click.echo(" ".join(name.ljust(width) for name, width in COLUMNS).rstrip())
    for row in rows:
        click.echo(" ".join(_cell(row[name], width) for name, width in COLUMNS).rstrip())


@outbox_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Re-queue every failed mail.")
@click.pass_context
def retry_command(ctx: click.Context, ids: tuple[int, ...], retry_all: bool) -> None:
    """Put failed mail back in the queue (attempts start again from zero)."""
    if bool(ids) == retry_all:
        raise click.UsageError("give one or more IDs, or --all")
    _, engine = _load(ctx)
    count = admin.retry(engine, None if retry_all else list(ids))
    click.echo(f"{count} mail(s) queued again")


@outbox_group.command("send")
@click.pass_context
def send_command(ctx: click.Context) -> None:
    """Deliver the mail that is due now (the daemon does this on its own)."""
    cfg, engine = _load(ctx)
    result = sender.drain(engine, cfg.outbound)
    click.echo(f"sent {result.sent}, retried {result.retried}, failed {result.failed}")


def _plain(value: Any) -> Any:
    return as_utc(value).isoformat() if isinstance(value, datetime) else value


def _cell(value: Any, width: int) -> str:
    if isinstance(value, datetime):
        value = as_utc(value).strftime("%Y-%m-%d %H:%M:%S")
    text = "" if value is None else " ".join(str(value).split())
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text.ljust(width)
