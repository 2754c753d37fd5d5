"""Click commands of the classifier (train, evaluate, classify, model ...).

`pipeline.cli` adds every command listed in COMMANDS to the `triaje` entry point.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pipeline import config
from pipeline.config import ClassifierConfig

COMMANDS: list[click.Command] = []
BATCH = 500


def _settings(ctx: click.Context) -> tuple[ClassifierConfig, int]:
    """[classifier] settings and the message size limit; defaults when there is no config."""
    explicit = (ctx.find_root().obj or {}).get("config_path")
    path = config.resolve_path(explicit)
    if not path.is_file() and path == Path(config.DEFAULT_PATH):
        return ClassifierConfig(), config.DeskConfig().max_message_bytes
    loaded = config.load(explicit)
    return loaded.classifier, loaded.desk.max_message_bytes


def _open_model(ctx: click.Context, model_dir: str | None):
    """--model DIR is a trained model, or a models directory whose CURRENT one is used."""
    from classifier import artefact  # deferred: scikit-learn loads only when a command needs the model

    if model_dir is None:
        return artefact.load_current(_settings(ctx)[0].models_dir)
    path = Path(model_dir)
    if not (path / artefact.MANIFEST_FILE).exists() and (path / artefact.CURRENT_FILE).exists():
        return artefact.load_current(path)
    return artefact.load_model(path)


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


_data_option = click.option(
    "--data", "data", multiple=True, required=True, metavar="PATH",
    help="CSV or Parquet file, or a directory of them; repeat for more.")
_json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
_model_option = click.option(
    "--model", "model_dir", metavar="DIR", default=None,
    help="Trained model directory (default: the current model of [classifier] models_dir).")


@click.command("train")
@_data_option
@click.option("--out", required=True, metavar="DIR", help="Directory to write the model into.")
@click.option("--install", "install", is_flag=True,
              help="Also install it in the models directory and make it the current one.")
@_json_option
@click.pass_context
def train(ctx: click.Context, data: tuple[str, ...], out: str, install: bool,
          as_json: bool) -> None:
    """Train every head found in the data, cross-validate, and write the model to DIR."""
    from classifier import (  # deferred: scikit-learn loads only when a command needs the model
        artefact,
        render,
        training,
    )

    settings, _ = _settings(ctx)
    progress = not as_json and sys.stderr.isatty()
    manifest = training.train_from_paths(list(data), out, settings.target_precision, progress)
    summary = train_summary(manifest, out)
    if install:
        summary["installed"] = artefact.install(out, settings.models_dir)
        summary["models_dir"] = str(settings.models_dir)
    if as_json:
        _echo_json(summary)
    else:
        render.print_train(summary)
        if install:
            click.echo(f"installed model {summary['installed']} in {settings.models_dir} (now current)")


def train_summary(manifest: dict, out: str) -> dict:
    heads = {}
    for head, info in manifest["heads"].items():
        heads[head] = {"rows": info["rows"], "labels": info["labels"],
                       "threshold": info["threshold"], "rare_labels": info["rare_labels"],
                       **info["metrics"]}
    return {"version": manifest["version"], "out": str(out), "rows": manifest["data"]["rows"],
            "target_precision": manifest["target_precision"], "heads": heads,
            "skipped_heads": manifest["skipped_heads"]}


@click.command("evaluate")
@_data_option
@_model_option
@_json_option
@click.pass_context
def evaluate(ctx: click.Context, data: tuple[str, ...], model_dir: str | None,
             as_json: bool) -> None:
    """Score a model on labelled data: macro-F1, per-class recall, coverage, confusion."""
    from classifier import (  # deferred: scikit-learn loads only when a command needs the model
        dataset,
        evaluation,
        render,
    )

    model = _open_model(ctx, model_dir)
    result = evaluation.evaluate(model, dataset.load(list(data)))
    if as_json:
        _echo_json(result)
    else:
        render.print_evaluation(result, model.version)


@click.command("classify")
@click.argument("files", nargs=-1, required=True, metavar="FILE.eml...")
@_model_option
@_json_option
@click.pass_context
def classify(ctx: click.Context, files: tuple[str, ...], model_dir: str | None,
             as_json: bool) -> None:
    """Classify .eml files: one line (or JSON object) per file; a bad file gets an error line."""
    from classifier import (  # deferred: scikit-learn loads only when a command needs the model
        mailfiles,
        render,
    )

    model = _open_model(ctx, model_dir)
    max_bytes = _settings(ctx)[1]
    for start in range(0, len(files), BATCH):
        for result in mailfiles.classify_files(model, list(files[start:start + BATCH]), max_bytes):
            click.echo(json.dumps(result, ensure_ascii=False) if as_json
                       else render.classify_line(result, model.heads))


@click.group("model")
def model_group() -> None:
    """Install and list trained models in the models directory."""


_models_dir_option = click.option(
    "--models-dir", metavar="DIR", default=None,
    help="Models directory (default: [classifier] models_dir, else ./models).")


@model_group.command("install")
@click.argument("trained_dir", metavar="DIR")
@_models_dir_option
@_json_option
@click.pass_context
def model_install(ctx: click.Context, trained_dir: str, models_dir: str | None,
                  as_json: bool) -> None:
    """Copy a model trained with `triaje train --out DIR` in and make it the current one."""
    from classifier import artefact  # deferred: scikit-learn loads only when a command needs the model

    root = models_dir or _settings(ctx)[0].models_dir
    version = artefact.install(trained_dir, root)
    if as_json:
        _echo_json({"version": version, "models_dir": str(root)})
    else:
        click.echo(f"installed model {version} in {root} (now current)")


@model_group.command("list")
@_models_dir_option
@_json_option
@click.pass_context
def model_list(ctx: click.Context, models_dir: str | None, as_json: bool) -> None:
    """Versions in the models directory; the current one is marked."""
    from classifier import artefact  # deferred: scikit-learn loads only when a command needs the model

    root = models_dir or _settings(ctx)[0].models_dir
    current = artefact.current_version(root)
    names = artefact.versions(root)
    if as_json:
        _echo_json({"models_dir": str(root), "current": current, "versions": names})
        return
    for name in names:
        click.echo(f"{'*' if name == current else ' '} {name}")
    if not names:
        click.echo(f"no models in {root}")


COMMANDS += [train, evaluate, classify, model_group]
