"""`triaje model install` and `triaje train --install` tell the database, not only the folder.

Both commands live in `classifier.commands` and write the models folder's `CURRENT`. With
a config (and so a database that daemons share), the version they installed is also
recorded here: a `model_events` row and the database's pointer, in one transaction
(`modelstore.record`), which is what every daemon loads. Without a config there is no
database to tell, and `CURRENT` stays the folder's own word. A `--models-dir` other than
the config's is a folder no daemon reads, so it is not recorded either.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import click

from classifier import modelsdir
from pipeline import config as configmod
from pipeline.cli.tracking import _author
from pipeline.db import open_database
from pipeline.tracking import modelstore


def wrap(main: click.Group) -> None:
    """Replace `train` and `model install` in `main` by copies that also record."""
    main.add_command(_recording(main.commands["train"], source="out", flag="install"))
    group = main.commands["model"]
    assert isinstance(group, click.Group)
    group.add_command(_recording(group.commands["install"], source="trained_dir"))


def _recording(command: click.Command, source: str, flag: str | None = None) -> click.Command:
    original = command.callback
    assert original is not None
    wrapped = copy.copy(command)

    def callback(**params: Any) -> None:
        ctx = click.get_current_context()
        ctx.invoke(original, **params)
        if flag is not None and not params.get(flag):
            return
        recorded = _record(ctx, Path(params[source]), params.get("models_dir"))
        if recorded and not params.get("as_json"):  # --json output stays one JSON document
            click.echo("recorded in the database: every daemon loads it within a minute")

    wrapped.callback = callback
    return wrapped


def _record(ctx: click.Context, trained: Path, models_dir: str | None) -> bool:
    path = configmod.resolve_path((ctx.find_root().obj or {}).get("config_path"))
    if not path.is_file():
        return False
    cfg = configmod.load(str(path))
    if models_dir and Path(models_dir).resolve() != Path(cfg.classifier.models_dir).resolve():
        return False
    version = (modelsdir.manifest_json(trained) or {}).get("version")
    if not version:
        return False
    engine = open_database(cfg.database_url)
    try:
        modelstore.record(engine, "install", version, modelstore.pointer(engine), _author(None))
    finally:
        engine.dispose()
    return True
