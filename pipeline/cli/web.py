"""`triaje web` (the review desk) and `triaje user add|list|remove|passwd` (its users)."""

from __future__ import annotations

import json
from dataclasses import replace

import click

from pipeline.cli.ingest import build_services
from pipeline.web import app, users

_password = click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                         help="Asked twice when not given; a pipe may give it on two lines.")


@click.command("web")
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Override [web] listen (default 127.0.0.1:8025).")
@click.pass_context
def web_command(ctx: click.Context, listen: str | None) -> None:
    """Serve the review desk: review, report, quarantine, outbox, models."""
    env = build_services(ctx, with_model=False)
    config = env.config
    if listen:
        config = replace(config, web=replace(config.web, listen=listen))
    app.serve(config, env.engine)


@click.group("user")
def user_group() -> None:
    """People who may log in to the web desk."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(users.ROLES), required=True)
@_password
@click.pass_context
def user_add(ctx: click.Context, name: str, role: str, password: str) -> None:
    """Add NAME with a role; the password is asked twice."""
    env = build_services(ctx, with_model=False)
    users.add(env.engine, name, role, password)
    click.echo(f"user {name} added ({role})")


@user_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def user_list(ctx: click.Context, as_json: bool) -> None:
    env = build_services(ctx, with_model=False)
    found = users.list_users(env.engine)
    if as_json:
        click.echo(json.dumps(found, default=str))
        return
    for user in found:
        click.echo(f"{user['name']}\t{user['role']}\t{user['language'] or '-'}")


@user_group.command("remove")
@click.argument("name")
@click.pass_context
def user_remove(ctx: click.Context, name: str) -> None:
    """Remove NAME and end its sessions (its review decisions keep its name)."""
    env = build_services(ctx, with_model=False)
    users.remove(env.engine, name)
    click.echo(f"user {name} removed")


@user_group.command("passwd")
@click.argument("name")
@_password
@click.pass_context
def user_passwd(ctx: click.Context, name: str, password: str) -> None:
    """Set NAME's password; its open sessions end."""
    env = build_services(ctx, with_model=False)
    users.set_password(env.engine, name, password)
    click.echo(f"password of {name} changed; its sessions ended")


COMMANDS: list[click.Command] = [web_command, user_group]
