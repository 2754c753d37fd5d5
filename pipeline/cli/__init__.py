"""The `triaje` command line: one entry point, one subcommand per job."""

from __future__ import annotations

import sys

import click

from classifier.commands import COMMANDS as CLASSIFIER_COMMANDS
from pipeline import __version__
from pipeline.cli import installs, tracking
from pipeline.cli.demo import demo_command
from pipeline.cli.ingest import COMMANDS as INGEST_COMMANDS
from pipeline.cli.outbox import outbox_group
from pipeline.cli.web import COMMANDS as WEB_COMMANDS
from pipeline.errors import TriajeError


class TriajeGroup(click.Group):
    """Turns our own errors into one clear line and exit status 2, never a traceback; takes
    `--config PATH` before or after the subcommand (`triaje poll --once --config X`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, config_first(args))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TriajeError as exc:
            click.echo(f"triaje: error: {exc}", err=True)
            sys.exit(2)


def config_first(args: list[str]) -> list[str]:
    """`--config PATH` (or `--config=PATH`) wherever it stands, moved before the subcommand.
    Everything after a `--` is left alone."""
    moved, rest, i = [], [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg == "--config" and i + 1 < len(args):
            moved += args[i:i + 2]
            i += 2
            continue
        (moved if arg.startswith("--config=") else rest).append(arg)
        i += 1
    return moved + rest


@click.group(cls=TriajeGroup)
@click.version_option(__version__, prog_name="triaje")
@click.option("--config", "config_path", metavar="PATH", default=None,
              help="Config file (default: $TRIAJE_CONFIG, else ./triaje.toml).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """triaje: ingest, classify and route service-desk email."""
    ctx.obj = {"config_path": config_path, "verbose": verbose}


def _register() -> None:
    for command in (*INGEST_COMMANDS, outbox_group, demo_command, *CLASSIFIER_COMMANDS, *WEB_COMMANDS):
        main.add_command(command)
    tracking.register(main)  # its `model` subcommands join the classifier's `model` group
    installs.wrap(main)  # `train --install`, `model install`: the database's pointer too


_register()
