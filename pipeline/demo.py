"""`triaje demo`: the whole pipeline on the bundled sample mailbox, no server needed.

It writes a working folder with a copy of the sample Maildir, a config, an SQLite database,
a model trained on the bundled seed set (only when none is installed yet), and the mails it
would send as .eml files, then prints what happened to each message. The sample is copied
because an installed package is no place to read a Maildir from: its empty cur/ and tmp/
folders may not survive packaging, and nothing may ever write there.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

from sqlalchemy import select

from pipeline.resources import bundled_path
from pipeline.schema import inbound, outbox, predictions, tickets

CONFIG_TEMPLATE = """\
# Written by `triaje demo`: the offline demo, processing the bundled sample Maildir.
[database]
url = "sqlite:///{workdir}/triaje.db"

[[mailboxes]]
name = "sample"
url = "maildir://{sample}"
start = "all"

[desk]
addresses = ["desk@example.org"]
default_language = "es"
timezone = "Europe/Madrid"

[service_levels]
# the desk answers Monday to Friday, 8:00 to 18:00 Madrid time: no promise falls outside
timezone = "Europe/Madrid"
business_hours = "08:00-18:00"
business_days = [1, 2, 3, 4, 5]

[classifier]
models_dir = "{workdir}/models"

[smtp]
from = "Mesa de servicio <desk@example.org>"

[outbox]
directory = "{workdir}/outbox"

[routing]
triage = "triage@example.org"
default = "n1@example.org"
# a doubt about the type or the team sends a message to triage; a doubtful priority
# does not (no rule on priority matches it, and the ack promises the default time)
triage_on = ["type", "queue"]

[[routing.rules]]
type = ["incident"]
priority = ["critical", "high"]
to = ["n2@example.org"]

[[routing.rules]]
queue = ["network"]
to = ["redes@example.org"]

[[routing.rules]]
name = "Quejas y agradecimientos"
type = ["complaint", "compliment"]
to = ["calidad@example.org"]

[complaints]
owner = ["calidad@example.org"]
first_response = "1d"

[complaints.role]
es = "Marta Ruiz, responsable de calidad del servicio"
en = "Marta Ruiz, our service quality manager"
"""


def sample_mailbox() -> Path:
    return Path(str(files("pipeline.sample_mailbox")))


def seed_data() -> Path:
    return bundled_path("pipeline.training_data")


RUN_FILES = ("triaje.db", "triaje.db-wal", "triaje.db-shm", "triaje.db.sent")
RUN_FOLDERS = ("outbox", "sample_mailbox")


def write_config(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    sample = copy_sample(workdir)
    path = workdir / "triaje.toml"
    path.write_text(CONFIG_TEMPLATE.format(workdir=workdir.resolve().as_posix(),
                                           sample=sample.resolve().as_posix()), encoding="utf-8")
    return path


def copy_sample(workdir: Path) -> Path:
    """The bundled messages as a complete Maildir of the demo's own (new/, cur/, tmp/)."""
    target = workdir / "sample_mailbox"
    for folder in ("new", "cur", "tmp"):
        (target / folder).mkdir(parents=True, exist_ok=True)
    for message in (sample_mailbox() / "new").iterdir():
        if message.is_file() and not (target / "new" / message.name).exists():
            shutil.copyfile(message, target / "new" / message.name)
    return target


def earlier_run(workdir: Path) -> bool:
    return (workdir / "triaje.db").exists()


def clear_run(workdir: Path) -> None:
    """What `--fresh` removes: the database, the mails written and the Maildir copy. The
    trained model stays: training it again would only cost time."""
    for name in RUN_FILES:
        (workdir / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        shutil.rmtree(workdir / name, ignore_errors=True)


def ensure_model(models_dir: str, progress: bool) -> str:
    """Train on the bundled seed set when no model is installed; returns the version."""
    from classifier import (  # deferred: scikit-learn loads only when a command needs the model
        artefact,
        training,
    )

    current = artefact.current_version(models_dir)
    if current is not None:
        return current
    trained = Path(models_dir) / "_training"
    training.train_from_paths([str(seed_data())], trained, progress=progress)
    return artefact.install(trained, models_dir)


def ticket_rows(engine) -> list[dict]:
    """One row per processed message: what was understood and what was sent, for the summary."""

    with engine.connect() as conn:
        messages = conn.execute(select(
            inbound.c.id, tickets.c.ref, inbound.c.language, inbound.c.sender, inbound.c.subject,
            inbound.c.is_followup, inbound.c.auto_reason).join(
            tickets, tickets.c.id == inbound.c.ticket_id).order_by(inbound.c.id)).mappings().all()
        preds = conn.execute(select(predictions)).mappings().all()
        mails = conn.execute(select(outbox.c.inbound_id, outbox.c.kind, outbox.c.recipients))
        sent = [dict(m._mapping) for m in mails]
    rows = []
    for msg in messages:
        labels = {p["head"]: (p["label"], p["confidence"], p["needs_review"])
                  for p in preds if p["inbound_id"] == msg["id"]}
        out = [f"{m['kind']}→{m['recipients']}" for m in sent if m["inbound_id"] == msg["id"]]
        rows.append({**dict(msg), "labels": labels, "mails": out})
    return rows
