"""CLI commands of misclassification tracking: report, review, labels, retrain, model."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from pipeline.cli.ingest import build_services
from pipeline.tracking import labelcsv, modelstore, retrain
from pipeline.tracking import review as reviewmod

_who = click.option("--who", default=None, metavar="NAME",
                    help="Who is deciding (default: the login name).")
_json = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _author(who: str | None) -> str:
    if who:
        return who
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _model_if_any(env):
    """The model in service, if there is one, to know its labels; none is fine here."""
    from classifier import artefact  # deferred: scikit-learn loads only when a command needs the model

    models_dir = env.config.classifier.models_dir
    return artefact.load_current(models_dir) if artefact.current_version(models_dir) else None


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, default=str))


@click.command("report")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the HTML report here.")
@_json
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False), help="Write CSV tables here.")
@click.option("--language", type=click.Choice(["es", "en"]), default=None,
              help="Report language (default: [tracking] report_language).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Only messages received on or after this day.")
@click.pass_context
def report_command(ctx: click.Context, out: str | None, as_json: bool, csv_dir: str | None,
                   language: str | None, since: datetime | None) -> None:
    """How often each kind of query is misclassified: HTML, JSON or CSV."""
    from pipeline.tracking import report  # deferred: pandas and matplotlib, only for this command

    env = build_services(ctx, with_model=False)
    start = since.replace(tzinfo=ZoneInfo(env.config.desk.timezone)) if since else None
    data = report.build(env.engine, env.config, start)
    if out:
        Path(out).write_text(report.render_html(data, env.config, language), encoding="utf-8")
        click.echo(f"report written to {out}", err=True)
    if csv_dir:
        written = report.write_csv(data, Path(csv_dir))
        click.echo(f"{len(written)} tables written to {csv_dir}", err=True)
    if as_json:
        _echo_json(data)
    elif not (out or csv_dir):
        click.echo(report.summary_text(data, language or env.config.tracking.report_language))


@click.command("review")
@_who
@click.option("--limit", type=int, default=None, help="Stop after this many messages.")
@click.option("--include-skipped", is_flag=True, help="Show again what was skipped before.")
@click.pass_context
def review_command(ctx: click.Context, who: str | None, limit: int | None,
                   include_skipped: bool) -> None:
    """Check predictions: lowest confidence first, then the audit sample.

    Keys: a accept, c correct (then type the label or its number), s skip, q quit.
    Decisions are saved at once; the next review starts where this one stopped.
    """

    env = build_services(ctx, with_model=False)
    console = reviewmod.Console(echo=click.echo, key=_read_key, ask=lambda p: click.prompt(
        p, default="", show_default=False, prompt_suffix=""))
    counts = reviewmod.run_session(env.engine, console, _author(who), _model_if_any(env), limit,
                                   include_skipped, env.config)
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


def _read_key(prompt: str) -> str:
    """One key press in a terminal; a line when input is piped (scripts, tests)."""
    click.echo(prompt, nl=False)
    if sys.stdin.isatty():
        key = click.getchar()
        click.echo(key)
        return key
    line = sys.stdin.readline()
    if not line:
        return "q"
    click.echo(line.rstrip("\n"))
    return line


@click.group("labels")
def labels_group() -> None:
    """Human labels: import corrections from CSV, export training data."""


@labels_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_who
@click.pass_context
def labels_import(ctx: click.Context, file: str, who: str | None) -> None:
    """FILE.csv: a ref (SD-000123) or message_id column plus type/priority/queue columns."""
    env = build_services(ctx, with_model=False)
    done = labelcsv.import_file(env.engine, Path(file), _author(who), _model_if_any(env))
    click.echo(f"{done.new} new, {done.present} already present ({file})")


@labels_group.command("export")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="CSV file to write (default: standard output).")
@click.pass_context
def labels_export(ctx: click.Context, out: str | None) -> None:
    """Labelled messages in the training-data format (subject, body, type, ...)."""
    env = build_services(ctx, with_model=False)
    rows = labelcsv.labelled_rows(env.engine)
    if out:
        with open(out, "w", encoding="utf-8", newline="") as f:
            count = labelcsv.write_training_csv(rows, f)
        click.echo(f"{count} labelled messages written to {out}", err=True)
    else:
        labelcsv.write_training_csv(rows, sys.stdout)


@click.command("retrain")
@click.option("--data", multiple=True, metavar="PATH",
              help="Seed data instead of the bundled training_data/ (repeat for more).")
@_json
@_who
@click.pass_context
def retrain_command(ctx: click.Context, data: tuple[str, ...], as_json: bool,
                    who: str | None) -> None:
    """Train on the seed set plus collected labels; promote only if not worse."""
    env = build_services(ctx, with_model=False)
    say = (lambda _m: None) if as_json else (lambda m: click.echo(m, err=True))
    result = retrain.retrain(env, list(data) or None, _author(who), say)
    if as_json:
        _echo_json(result)
        return
    _print_scores(result)


def _print_scores(result: dict) -> None:
    cand, cur = result["candidate"], result["current"]
    if cand is None:  # no fair comparison was possible: nothing was trained
        click.echo(f"not retrained: {result['reason']}; in service: {result['in_service']}")
        return
    found = set(cand["macro_f1"]) | set((cur or {}).get("macro_f1") or {})
    heads = [h for h in retrain.HEADS if h in found] + sorted(found - set(retrain.HEADS))
    click.echo(f"held-out rows: {result['holdout']['rows']} ({result['holdout']['source']}); "
               f"macro-F1 candidate {cand['version']} / current "
               f"{cur['version'] if cur else '(none)'}")
    for head in heads:
        old = (cur or {}).get("macro_f1", {}).get(head)
        click.echo(f"  {head:<10} {cand['macro_f1'].get(head, float('nan')):.3f}   "
                   f"{'-' if old is None else f'{old:.3f}'}")
    verdict = "promoted" if result["promoted"] else "refused"
    click.echo(f"candidate {verdict}: {result['reason']}; in service: {result['in_service']}")


@click.group("model")
def model_group() -> None:
    """Model versions: list, put one in service, roll back."""


@model_group.command("list")
@_json
@click.pass_context
def model_list(ctx: click.Context, as_json: bool) -> None:
    env = build_services(ctx, with_model=False)
    found = modelstore.list_models(env.config.classifier.models_dir)
    if as_json:
        _echo_json(found)
        return
    for model in found:
        click.echo(f"{'*' if model['current'] else ' '} {model['version']}  rows={model['rows']}")


@model_group.command("promote")
@click.argument("version")
@_who
@click.pass_context
def model_promote(ctx: click.Context, version: str, who: str | None) -> None:
    """Put VERSION in service (checked before the switch)."""
    env = build_services(ctx, with_model=False)
    previous = modelstore.promote(env.engine, env.config.classifier.models_dir, version,
                                  _author(who))
    click.echo(f"{version} in service (was {previous or 'none'})")


@model_group.command("rollback")
@_who
@click.pass_context
def model_rollback(ctx: click.Context, who: str | None) -> None:
    """Back to the model in service before the current one."""
    env = build_services(ctx, with_model=False)
    old, new = modelstore.rollback(env.engine, env.config.classifier.models_dir, _author(who))
    click.echo(f"{new} in service (was {old})")


COMMANDS: list[click.Command] = [report_command, review_command, labels_group, retrain_command,
                                 model_group]


def register(main: click.Group) -> None:
    """Add COMMANDS to `main`; into a `model` group another module registered, add only the
    subcommands it lacks (promote, rollback), so both keep working."""
    for command in COMMANDS:
        existing = main.commands.get(command.name or "")
        if isinstance(existing, click.Group) and isinstance(command, click.Group):
            for name, sub in command.commands.items():
                if name not in existing.commands:
                    existing.add_command(sub)
        else:
            main.add_command(command)
