"""Labels: the alias table, correction lines, and CSV import and export through the CLI."""

from __future__ import annotations

import csv
import io
import json
import mailbox
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_mail
from helpers import build_env
from sqlalchemy import select
from stubmodel import KeywordModel

from classifier import dataset
from pipeline.cli import main
from pipeline.ingest import poller
from pipeline.schema import inbound, tickets
from pipeline.schema import labels as labels_table
from pipeline.tracking import labels
from pipeline.tracking.corrections import parse_lines

SUBJECTS = ("Red caída en la planta 2", "La impresora no imprime", "Pregunta sobre vacaciones",
            "Impresora rara, no sé qué pasa", "Gracias por todo", "Solicito acceso a la carpeta")


def toml_value(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def write_config(path: Path, cfg: dict) -> Path:
    """A TOML file for the CLI from the dict the tests use (tables and arrays of tables)."""
    lines = []
    for section, body in cfg.items():
        items = body if isinstance(body, list) else [body]
        for item in items:
            lines.append(f"[[{section}]]" if isinstance(body, list) else f"[{section}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in item.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def desk_with_mail(tmp_path: Path, subjects=SUBJECTS, model=None, **tracking):
    """Messages processed from a Maildir with the keyword model; returns (env, config path)."""
    box = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    for i, subject in enumerate(subjects):
        box.add(make_mail(subject=subject, sender=f"user{i}@example.com",
                          message_id=f"<m{i}@example.com>", body=f"{subject}. Mensaje {i}."))
    cfg = {"database": {"url": f"sqlite:///{tmp_path / 'triaje.db'}"},
           "mailboxes": [{"name": "desk", "url": f"maildir://{tmp_path / 'Maildir'}"}],
           "classifier": {"models_dir": str(tmp_path / "models")},
           "outbox": {"directory": str(tmp_path / "outbox")},
           "routing": {"default": "n1@example.org", "triage": "triage@example.org"}}
    if tracking:
        cfg["tracking"] = tracking
    env = build_env(cfg)
    env.model = model or KeywordModel()
    summary, failed = poller.poll_once(env)
    assert failed == [] and summary.new_tickets == len(subjects)
    return env, write_config(tmp_path / "triaje.toml", cfg)


def cli(config: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(main, ["--config", str(config), *args], input=input,
                              catch_exceptions=False)


@pytest.mark.parametrize(("head", "word", "label"), [
    ("type", "incidente", "incident"), ("type", "Reclamación", "complaint"),
    ("type", "queja", "complaint"), ("type", "agradecimiento", "compliment"),
    ("type", "felicitación", "compliment"), ("type", "solicitud", "service_request"),
    ("type", "Service request", "service_request"), ("type", "consulta", "inquiry"),
    ("priority", "crítica", "critical"), ("priority", "ALTA", "high"),
    ("priority", "media", "medium"), ("priority", "baja", "low"),
    ("queue", "redes", "network"), ("queue", "equipos", "hardware"),
    ("queue", "aplicaciones", "applications"), ("queue", "accesos", "access"),
    ("queue", "compras", "procurement"), ("queue", "mesa", "service_desk"),
    ("queue", "service_desk", "service_desk"),
])
def test_spanish_and_english_words_resolve(head, word, label):
    assert labels.resolve(head, word) == label


def test_unknown_words_and_labels_only_the_model_knows():
    class Model(KeywordModel):
        def labels(self, head):
            return ("network", "telephony") if head == "queue" else ()

    assert labels.resolve("queue", "telefonía") is None
    assert labels.resolve("queue", "telephony", Model()) == "telephony"
    assert labels.resolve("priority", "altísima", Model()) is None
    assert "telephony" in labels.known_labels("queue", Model())


def test_correction_lines_stop_at_the_quoted_history():
    text = ("Hola,\n\nTipo: incidente\n prioridad : alta\nasunto: nada que ver\ntipo: consulta\n"
            "\nEl jue, 27 nov 2026, Mesa escribió:\n> cola: compras\n")
    assert parse_lines(text) == [("type", "incidente"), ("priority", "alta")]
    assert parse_lines("queue = network.\n-----Original Message-----\ntype: inquiry") == [
        ("queue", "network")]


def test_our_own_examples_and_lists_are_not_corrections():
    """Bulleted or indented lines are how our mails show labels; quoted without ">" by a
    careless client they must not turn into corrections (or into a reply loop)."""
    quoted = ("Clasificación automática:\n  - tipo: incident (97 % de confianza)\n"
              "No reconozco:\n  - prioridad: altísima\npor ejemplo:\n\n    tipo: incidente\n"
              "    cola: redes\n")
    assert parse_lines(quoted) == []


def test_latest_label_is_the_truth(tmp_path):
    env, _ = desk_with_mail(tmp_path, SUBJECTS[:1])
    with env.engine.begin() as conn:
        labels.record(conn, 1, "type", "inquiry", "review", "ana")
        labels.record(conn, 1, "type", "incident", "email", "bob@example.org")
        labels.record(conn, 1, "queue", "network", "import", "ana")
    with env.engine.connect() as conn:
        latest = labels.latest(conn)
    assert {k: (v["label"], v["source"]) for k, v in latest.items()} == {
        (1, "type"): ("incident", "email"), (1, "queue"): ("network", "import")}


def test_import_by_reference_and_message_id_then_export(tmp_path):
    env, config = desk_with_mail(tmp_path)
    source = tmp_path / "labels.csv"
    source.write_text("ref,message_id,type,priority,queue\n"
                      "SD-000002,,solicitud,,compras\n"
                      ",m3@example.com,Queja,baja,\n", encoding="utf-8")
    done = cli(config, "labels", "import", str(source), "--who", "ana")
    assert done.exit_code == 0, done.output
    assert "4 new, 0 already present" in done.output
    with env.engine.connect() as conn:
        rows = conn.execute(select(labels_table.c.head, labels_table.c.label, labels_table.c.source,
                                   labels_table.c.author, inbound.c.message_id)
                            .join(inbound, inbound.c.id == labels_table.c.inbound_id)).all()
        second = conn.execute(select(inbound.c.subject).join(
            tickets, tickets.c.id == inbound.c.ticket_id).where(tickets.c.ref == "SD-000002")
        ).scalar_one()
    assert sorted((r.message_id, r.head, r.label) for r in rows) == sorted([
        ("<m1@example.com>", "type", "service_request"), ("<m1@example.com>", "queue", "procurement"),
        ("<m3@example.com>", "type", "complaint"), ("<m3@example.com>", "priority", "low")])
    assert {(r.source, r.author) for r in rows} == {("import", "ana")}

    out = tmp_path / "export.csv"
    assert cli(config, "labels", "export", "--out", str(out)).exit_code == 0
    exported = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(exported[0]) == ["subject", "body", "type", "priority", "queue", "language"]
    assert [(r["subject"], r["type"], r["priority"], r["queue"]) for r in exported] == [
        (second, "service_request", "", "procurement"), (SUBJECTS[3], "complaint", "low", "")]
    assert all(r["body"] and r["language"] == "es" for r in exported)
    assert dataset.load([str(out)]).heads == ("type", "priority", "queue")  # trainable as is

    printed = cli(config, "labels", "export").output
    assert list(csv.DictReader(io.StringIO(printed))) == exported


def test_import_twice_changes_nothing_and_semicolons_work(tmp_path):
    env, config = desk_with_mail(tmp_path)
    source = tmp_path / "etiquetas.csv"  # as Excel in Spanish saves it
    source.write_text("ref;tipo_extra;type;priority;queue\n"
                      "SD-000001;x;incidencia;alta;redes\nSD-000002;y;Solicitud;;compras\n"
                      "SD-000003;z;queja;baja;\n", encoding="utf-8")
    first = cli(config, "labels", "import", str(source))
    assert first.exit_code == 0 and "7 new, 0 already present" in first.output
    again = cli(config, "labels", "import", str(source))
    assert again.exit_code == 0 and "0 new, 7 already present" in again.output
    with env.engine.connect() as conn:
        assert len(conn.execute(select(labels_table)).all()) == 7


def test_import_names_every_bad_row_at_once(tmp_path):
    env, config = desk_with_mail(tmp_path)
    source = tmp_path / "labels.csv"
    source.write_text("ref,type,priority\nSD-000001,incidente,alta\nSD-000002,desconocido,baja\n"
                      "SD-999999,queja,baja\nSD-000003,queja,altísima\n", encoding="utf-8")
    done = CliRunner().invoke(main, ["--config", str(config), "labels", "import", str(source)])
    assert done.exit_code == 2 and "3 row(s) not understood" in done.output
    for needle in ("row 3: type 'desconocido'", "row 4: no message for SD-999999",
                   "row 5: priority 'altísima'"):
        assert needle in done.output
    with env.engine.connect() as conn:
        assert conn.execute(select(labels_table)).all() == []


def test_import_refuses_the_whole_file_naming_the_bad_row(tmp_path):
    env, config = desk_with_mail(tmp_path)
    source = tmp_path / "labels.csv"
    source.write_text("ref,type\nSD-000001,incidente\nSD-000002,desconocido\n", encoding="utf-8")
    done = CliRunner().invoke(main, ["--config", str(config), "labels", "import", str(source)])
    assert done.exit_code == 2
    assert "row 3" in done.output and "desconocido" in done.output and "incident" in done.output
    source.write_text("ref,type\nSD-999999,incidente\n", encoding="utf-8")
    done = CliRunner().invoke(main, ["--config", str(config), "labels", "import", str(source)])
    assert done.exit_code == 2 and "row 2" in done.output and "SD-999999" in done.output
    with env.engine.connect() as conn:
        assert conn.execute(select(labels_table)).all() == []


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
