"""`triaje demo`: the offline run of the whole pipeline, with a readable summary."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from pipeline import config as configmod
from pipeline import demo, logutil, services, vocabulary
from pipeline.ingest import poller
from pipeline.outbound import sender


@click.command("demo")
@click.option("--workdir", default="triaje-demo", show_default=True, type=click.Path(),
              help="Folder for the demo's config, database, model and .eml files.")
@click.option("--fresh", is_flag=True,
              help="Forget an earlier run in this folder and process the sample again "
                   "(the trained model is kept).")
@click.pass_context
def demo_command(ctx: click.Context, workdir: str, fresh: bool) -> None:
    """Process the bundled sample mailbox end to end; no server needed."""
    logutil.setup(ctx.obj["verbose"] - 1)
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(width=140)
    folder = Path(workdir)
    if fresh:
        demo.clear_run(folder)
    again = demo.earlier_run(folder)
    path = demo.write_config(folder)
    cfg = configmod.load(str(path))
    with console.status("Preparing the classifier (first run trains it on training_data/)"):
        version = demo.ensure_model(cfg.classifier.models_dir, progress=False)
    env = services.build(cfg)
    summary, failed = poller.poll_once(env)
    drained = sender.drain(env.engine, cfg.outbound)
    _print_tickets(console, demo.ticket_rows(env.engine))
    console.print(f"model {version}; this run: " + ", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in summary.as_dict().items()))
    console.print(f"mails written this run: {drained.sent} (in {cfg.outbound.outbox.directory})")
    if again and summary.fetched == 0:
        console.print(f"{folder} already held an earlier demo run, so nothing was new this time; "
                      f"`triaje demo --fresh` processes the sample again.")
    console.print(f"config: {path} (try: triaje --config {path} quarantine list)")
    if failed:
        raise SystemExit(1)


def _print_tickets(console: Console, rows: list[dict]) -> None:
    table = Table(title="What triaje understood and did (? = needs review)")
    for column in ("ticket", "lang", "subject", "type · priority · queue", "mails queued"):
        table.add_column(column, overflow="fold")
    for row in rows:
        labels = " · ".join(_label(h, row["labels"].get(h)) for h in ("type", "priority", "queue"))
        mails = ", ".join(row["mails"]) or f"none ({row['auto_reason'] or 'follow-up'})"
        ref = row["ref"] + ("+" if row["is_followup"] else "")
        table.add_row(ref, row["language"], (row["subject"] or "")[:42], labels, mails)
    console.print(table)
    console.print("+ = a follow-up joined to its ticket")


def _label(head: str, prediction: tuple | None) -> str:
    if prediction is None:
        return "-"
    label, confidence, needs_review = prediction
    return f"{vocabulary.name(head, label, 'en')} {confidence:.2f}" + (" ?" if needs_review else "")
