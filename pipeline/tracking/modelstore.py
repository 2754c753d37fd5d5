"""Model versions in service: list them, put one in service, go back to the one before.

Works over the layout `classifier.artefact` keeps: one folder per version (manifest and
artefact) and a `CURRENT` file naming the one in use. A version is checked (manifest,
sha256, library versions, heads) by loading it before `CURRENT` is switched, atomically.
Every switch is written to `model_events`, which is how `rollback` knows what came before.

The version in service is written to the database (`settings` "model.current"), in the
transaction that records the switch (`record`): promote, rollback, retraining, and
`triaje model install` / `train --install` run with a config. That pointer is the one
truth whenever it is set; `CURRENT` is each host's cache of it (rewritten when a daemon
loads another version) and decides only while the database names none. An earlier rule,
"a CURRENT written after the pointer wins", compared one host's file time with another's
database time, so a clock running ahead on one host could keep a rollback from reaching it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError

from classifier import modelsdir
from pipeline.db import utcnow
from pipeline.errors import ModelError
from pipeline.schema import model_events, settings

CURRENT_KEY = "model.current"


def list_models(models_dir: str) -> list[dict[str, Any]]:
    """Oldest first (version names start with their creation time)."""
    from classifier import artefact  # deferred: scikit-learn loads only when a command needs the model

    current = artefact.current_version(models_dir)
    found = []
    for version in artefact.versions(models_dir):
        manifest = artefact.read_manifest(Path(models_dir) / version)
        found.append({
            "version": version, "current": version == current,
            "created": manifest.get("created"),
            "rows": manifest.get("data", {}).get("rows"),
            "heads": {h: {k: info.get(k) for k in ("threshold", "labels")}
                      for h, info in manifest.get("heads", {}).items()},
        })
    return found


def promote(engine: Engine, models_dir: str, version: str, author: str,
            action: str = "promote", details: dict | None = None) -> str | None:
    """Put `version` in service; returns the version it replaced."""
    from classifier import artefact  # deferred: scikit-learn loads only when a command needs the model

    folder = Path(models_dir) / version
    if version not in artefact.versions(models_dir):
        known = ", ".join(artefact.versions(models_dir)) or "none"
        raise ModelError(f"no model version {version!r} in {models_dir}/ (installed: {known})")
    artefact.load_model(folder)  # refuses a tampered or incompatible model before the switch
    previous = in_service(engine, models_dir)
    _write_current(Path(models_dir) / artefact.CURRENT_FILE, version)
    record(engine, action, version, previous, author, details)
    return previous


def in_service(engine: Engine, models_dir: str) -> str | None:
    """The version every daemon should run: the database's pointer; `CURRENT` only while
    the database names none (a desk that installed its model before any daemon ran)."""
    return pointer(engine) or modelsdir.current_version(models_dir)


def cache_current(models_dir: str, version: str) -> None:
    """Make this host's `CURRENT` say what the database says (for `model list` and the
    commands that read the folder only); a folder we cannot write is left as it is."""
    try:
        if modelsdir.current_version(models_dir) != version:
            _write_current(Path(models_dir) / modelsdir.CURRENT_FILE, version)
    except (OSError, ModelError):
        pass


def pointer(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(settings.c.value).where(settings.c.key == CURRENT_KEY)).scalar()


def set_pointer(conn: Connection, version: str) -> None:
    values = {"value": version, "updated_at": utcnow()}
    if conn.execute(update(settings).where(settings.c.key == CURRENT_KEY).values(**values)).rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(settings.insert().values(key=CURRENT_KEY, **values))
    except IntegrityError:  # set by another process a moment ago: ours is the later word
        conn.execute(update(settings).where(settings.c.key == CURRENT_KEY).values(**values))


def rollback(engine: Engine, models_dir: str, author: str) -> tuple[str, str]:
    """Back to the version in service before the current one; returns (from, to)."""
    from classifier import artefact  # deferred: scikit-learn loads only when a command needs the model

    current = in_service(engine, models_dir)
    if current is None:
        raise ModelError(f"no model in service in {models_dir}/: nothing to roll back")
    target = _before(engine, current) or _older(artefact.versions(models_dir), current)
    if target is None:
        raise ModelError(f"{current} is the oldest model in {models_dir}/: nothing to roll back to")
    promote(engine, models_dir, target, author, "rollback", {"from": current})
    return current, target


def _before(engine: Engine, current: str) -> str | None:
    """What `current` replaced when it was last put in service (not by a rollback)."""
    with engine.connect() as conn:
        return conn.execute(select(model_events.c.previous).where(
            model_events.c.version == current, model_events.c.action != "rollback",
            model_events.c.previous.is_not(None), model_events.c.previous != current)
            .order_by(model_events.c.id.desc()).limit(1)).scalar()


def _older(versions: list[str], current: str) -> str | None:
    earlier = [v for v in versions if v < current]
    return earlier[-1] if earlier else None


def record(engine: Engine, action: str, version: str | None, previous: str | None, author: str,
           details: dict | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(model_events.insert().values(
            action=action, version=version, previous=previous, author=author,
            details=json.dumps(details, default=str) if details else None, created_at=utcnow()))
        if version is not None and action in ("promote", "rollback", "install", "retrain"):
            set_pointer(conn, version)


def history(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(model_events).order_by(model_events.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


def _write_current(path: Path, version: str) -> None:
    """Write beside CURRENT and rename over it: a reader sees the old or the new name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"{version}\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
