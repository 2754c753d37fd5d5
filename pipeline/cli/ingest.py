"""CLI commands of the ingestion side: run, poll, config check, quarantine."""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import asdict

import click

from pipeline import config as configmod
from pipeline import logutil, services
from pipeline.config import advice
from pipeline.config.secrets import mask
from pipeline.daemon import Daemon
from pipeline.ingest import poller
from pipeline.process import quarantine
from pipeline.process import workers as processworkers


def load_config(ctx: click.Context) -> configmod.Config:
    return configmod.load(ctx.obj["config_path"])


def build_services(ctx: click.Context, with_model: bool = True) -> services.Services:
    logutil.setup(ctx.obj["verbose"])
    return services.build(load_config(ctx), with_model=with_model)


@click.command()
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processing workers (processes); default [daemon] workers, else one per core.")
@click.pass_context
def run(ctx: click.Context, workers: int | None) -> None:
    """Run the daemon: poll (and IDLE on) every mailbox until SIGTERM/SIGINT."""
    logutil.setup(ctx.obj["verbose"])
    config = load_config(ctx)
    count = workers or config.daemon.workers or processworkers.default_count()
    # with worker processes each loads the model; the fetching parent never classifies, so
    # it does not load one (~40 MB and a second or two before the workers could start)
    env = services.build(config, with_model=count == 1)
    config_path = str(configmod.resolve_path(ctx.obj["config_path"]).resolve())
    Daemon(env, workers=count, config_path=config_path,
           verbose=ctx.obj["verbose"]).run_until_signal()


@click.command(hidden=True)
@click.option("--parent", type=int, required=True)
@click.option("--wake-fd", type=int, default=None)
@click.option("--work-fd", type=int, default=None)
@click.pass_context
def worker(ctx: click.Context, parent: int, wake_fd: int | None, work_fd: int | None) -> None:
    """One processing worker of `triaje run --workers N` (started by the daemon); it writes
    a byte to `--wake-fd` after each batch, which wakes the daemon's sender, and waits for
    work on `--work-fd`, where the daemon writes when it stored mail."""
    processworkers.die_with(parent)
    if wake_fd is not None:
        os.set_blocking(wake_fd, False)
    if work_fd is not None:
        os.set_blocking(work_fd, False)  # a wake-up another worker took: no blocking read
    env = build_services(ctx)
    signal.signal(signal.SIGTERM, lambda *_: env.stop.set())
    signal.signal(signal.SIGINT, lambda *_: env.stop.set())
    processworkers.loop(env, parent, wake_fd, work_fd)


@click.command()
@click.option("--once", is_flag=True, required=True, help="Run one cycle and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def poll(ctx: click.Context, once: bool, as_json: bool) -> None:
    """One cycle over all mailboxes; exit status 1 when a mailbox could not be reached."""
    env = build_services(ctx)
    summary, failed = poller.poll_once(env)
    data = {**summary.as_dict(), "unreachable": failed}
    if as_json:
        click.echo(json.dumps(data))
    else:
        click.echo(" ".join(f"{k}={v}" for k, v in summary.as_dict().items()))
        for name in failed:
            click.echo(f"unreachable: {name}", err=True)
    sys.exit(1 if failed else 0)


@click.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate the config and print it with secrets masked."""
    cfg = load_config(ctx)
    data = asdict(cfg)
    for mailbox in data["mailboxes"]:
        mailbox["credentials"] = {k: (v if k.endswith(("_env", "_file", "_command")) else mask(v))
                                  for k, v in mailbox["credentials"].items()}
    click.echo(json.dumps(data, indent=2, default=str))
    for warning in advice.warnings(cfg):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"config OK: {cfg.source}", err=True)


@click.group("quarantine")
def quarantine_group() -> None:
    """Messages that could not be processed, kept with their raw bytes."""


@quarantine_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def quarantine_list(ctx: click.Context, as_json: bool) -> None:
    rows = quarantine.list_rows(build_services(ctx, with_model=False).engine)
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        click.echo(f"{r['id']:>6}  {r['mailbox']}  {r['stage']}: {r['reason']}  "
                   f"({r['message_id'] or 'no Message-ID'}, {r['size']} bytes)")
    click.echo(f"{len(rows)} quarantined", err=True)


@quarantine_group.command("show")
@click.argument("inbound_id", type=int)
@click.option("--raw", is_flag=True, help="Print the raw message bytes instead.")
@click.pass_context
def quarantine_show(ctx: click.Context, inbound_id: int, raw: bool) -> None:
    info, data = quarantine.show(build_services(ctx, with_model=False).engine, inbound_id)
    if raw:
        sys.stdout.buffer.write(data)
        return
    click.echo(json.dumps(info, indent=2))


@quarantine_group.command("retry")
@click.argument("inbound_id", type=int, required=False)
@click.option("--all", "retry_all", is_flag=True, help="Retry every quarantined message.")
@click.pass_context
def quarantine_retry(ctx: click.Context, inbound_id: int | None, retry_all: bool) -> None:
    if (inbound_id is None) == (not retry_all):
        raise click.UsageError("give one ID or --all")
    summary = quarantine.retry(build_services(ctx), None if retry_all else [inbound_id])
    click.echo(" ".join(f"{k}={v}" for k, v in summary.as_dict().items()))


COMMANDS = [run, worker, poll, config_group, quarantine_group]
