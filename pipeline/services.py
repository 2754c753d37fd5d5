"""What every stage may use, built once at start: config, database, model."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from classifier import modelsdir
from pipeline import instance
from pipeline.config import Config
from pipeline.db import open_database
from pipeline.tracking import modelstore

log = logging.getLogger("triaje")


@dataclass
class Services:
    config: Config
    engine: Engine
    model: Any | None  # classifier.artefact.TriageModel, loaded once
    stop: threading.Event = field(default_factory=threading.Event)  # set on SIGTERM/SIGINT
    instance: str = field(default_factory=instance.new_id)  # the owner of this process's leases

    @property
    def own_addresses(self) -> frozenset[str]:
        return self.config.outbound.own_addresses


def load_model(config: Config, engine: Engine | None = None) -> Any | None:
    """The model in service (the database's pointer when there is one, else `CURRENT`), or
    None (then only rules on sender or mailbox can match, and the rest goes to the default
    address) with a warning that says so."""
    models_dir = config.classifier.models_dir
    version = (modelstore.in_service(engine, models_dir) if engine is not None
               else modelsdir.current_version(models_dir))
    if version is None:
        log.warning("no model in %s: messages are registered without predictions and go where "
                    "rules that need no label send them, else to the [routing] default address; "
                    "run `triaje train --data training_data/ --out DIR --install`",
                    config.classifier.models_dir)
        return None
    from classifier import artefact  # deferred: scikit-learn and friends, only with a model

    return artefact.load_model(Path(models_dir) / version)


def build(config: Config, with_model: bool = True) -> Services:
    engine = open_database(config.database_url)
    return Services(config, engine, load_model(config, engine) if with_model else None)
