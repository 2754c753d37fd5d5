"""`triaje report`: HTML that opens offline, JSON and CSV with the hand-counted figures,
and the weekly mail through a real SMTP receiver."""

from __future__ import annotations

import csv
import email
import json
import re
from email import policy

import pytest
from click.testing import CliRunner
from smtp_receiver import Receiver
from test_labels import write_config
from test_metrics import CLASSES, make_spec, new_env, store, wrong

from pipeline.cli import main
from pipeline.daemon import Daemon
from pipeline.outbound import sender
from pipeline.tracking import report, retrain

NAMES_ES = {"type": "Tipo", "priority": "Prioridad", "queue": "Cola"}


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    env = new_env(tmp)
    spec = make_spec(seed=3, n=60)
    store(env, spec)
    config = write_config(tmp / "triaje.toml", {
        "database": {"url": env.config.database_url}, "desk": {"timezone": "Europe/Madrid"},
        "classifier": {"models_dir": str(tmp / "models")}})
    return tmp, spec, config


def run(config, *args):
    done = CliRunner().invoke(main, ["--config", str(config), "report", *args],
                              catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done


def test_json_figures_equal_hand_counts(desk):
    _, spec, config = desk
    data = json.loads(run(config, "--json").stdout)
    for head in CLASSES:
        m = data["heads"][head]
        errors = sum(wrong(i, head) for i in spec)
        assert (m["predictions"], m["misclassified"]) == (len(spec), errors)
        assert m["rate"] == pytest.approx(errors / len(spec))
        assert sum(map(sum, m["confusion"]["matrix"])) == sum(head in i["truth"] for i in spec)


def test_html_is_self_contained_and_shows_the_counts(desk):
    tmp, spec, config = desk
    out = tmp / "report.html"
    run(config, "--out", str(out))
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and not re.search(r'(src|href)="(https?:)?//', html)
    assert html.count("<svg") >= 2 + 2 * len(CLASSES)  # over time, coverage, per head x2
    for title in ("Resumen", "Evolución semanal", "Por versión del modelo", "Matrices de confusión",
                  "Confusiones más frecuentes", "Cobertura frente a precisión", "Tasa real estimada"):
        assert title in html
    for head, name in NAMES_ES.items():
        checked = sum(head in i["truth"] for i in spec)
        errors = sum(wrong(i, head) for i in spec)
        row = f'<tr><td class="l">{name}</td><td>{len(spec)}</td><td>{checked}</td><td>{errors}</td>'
        assert row in html
    english = tmp / "report-en.html"
    run(config, "--out", str(english), "--language", "en")
    text = english.read_text(encoding="utf-8")
    assert "Confusion matrices" in text and "Most confused pairs" in text and "Resumen" not in text


def test_csv_tables(desk):
    tmp, spec, config = desk
    run(config, "--csv", str(tmp / "tables"))
    summary = {r["head"]: r for r in csv.DictReader((tmp / "tables" / "summary.csv").open())}
    for head in CLASSES:
        assert int(summary[head]["misclassified"]) == sum(wrong(i, head) for i in spec)
    matrix = list(csv.DictReader((tmp / "tables" / "confusion_type.csv").open()))
    cell = sum(1 for i in spec if i["truth"].get("type", (None,))[0] == "incident"
               and i["preds"]["type"][0] == "inquiry")
    assert int(next(r for r in matrix if r["truth"] == "incident").get("inquiry", 0)) == cell
    weeks = list(csv.DictReader((tmp / "tables" / "by_week.csv").open()))
    assert sum(int(r["predictions"]) for r in weeks if r["head"] == "queue") == len(spec)


def test_empty_database_still_renders(tmp_path):
    env = new_env(tmp_path)
    data = report.build(env.engine, env.config)
    assert data["heads"] == {} and "Todavía no hay predicciones" in report.render_html(data, env.config)


def test_weekly_mail_and_scheduled_jobs(tmp_path):
    receiver = Receiver().start()
    try:
        env = new_env(tmp_path, {"smtp": {"url": receiver.url, "from": "Desk <desk@example.org>"}},
                      report_recipients=["owner@example.org"], report_language="en",
                      report_schedule="0 8 * * mon", retrain_schedule="0 3 * * sun")
        store(env, make_spec(seed=5, n=20))
        assert report.mail_report(env.engine, env.config) is not None
        assert sender.drain(env.engine, env.config.outbound).sent == 1
        jobs = {trigger["id"]: trigger for _, trigger in retrain.scheduled_jobs(env)}
        daemon = Daemon(env)
        daemon_jobs = [trigger.get("id") for _, trigger in daemon.extra_jobs]
        # with worker processes, they watch for a new model; the fetching parent has none
        fetcher = Daemon(env, workers=2, config_path=str(tmp_path / "triaje.toml"))
        fetcher_jobs = [trigger.get("id") for _, trigger in fetcher.extra_jobs]
    finally:
        receiver.stop()
    (got,) = receiver.messages
    msg = email.message_from_bytes(got.data, policy=policy.default)
    assert got.rcpt_tos == ["owner@example.org"] and msg["Auto-Submitted"] == "auto-generated"
    assert msg["Subject"].startswith("Classification report")
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "report.html"
    assert "Confusion matrices" in attachment.get_content()
    body = msg.get_body(("plain",)).get_content()
    assert "Full report attached" in body and "Misclassified, as seen in corrections" in body
    assert str(jobs["report"]["trigger"]).startswith("cron[") and "retrain" in jobs
    assert {"report", "retrain", "model-watch"} <= set(daemon_jobs)
    assert {"report", "retrain"} <= set(fetcher_jobs) and "model-watch" not in fetcher_jobs
    assert daemon.sender.name == "outbox"  # the outbox drains in its own thread, not a job



@pytest.mark.parametrize(("tracking", "key"), [
    ({"report_schedule": "every monday"}, "tracking.report_schedule"),
    ({"report_recipients": ["not an address"]}, "tracking.report_recipients"),
    ({"audit_fraction": 1.5}, "tracking.audit_fraction"),
    ({"report_language": "fr"}, "tracking.report_language"),
    ({"promote_on": "best"}, "tracking.promote_on"),
    ({"audit_fractoin": 0.1}, "tracking.audit_fractoin"),
])
def test_tracking_config_errors_name_the_key(tracking, key):
    from pipeline import config as configmod
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        configmod.from_dict({"database": {"url": "sqlite://"}, "tracking": tracking}, "t.toml")
    assert caught.value.key == key


def test_tracking_config_defaults_and_values():
    from pipeline import config as configmod

    plain = configmod.from_dict({"database": {"url": "sqlite://"}}).tracking
    assert (plain.audit_fraction, plain.report_language, plain.promote_margin,
            plain.report_schedule) == (0.05, "es", 0.0, None)
    cfg = configmod.from_dict({"database": {"url": "sqlite://"}, "tracking": {
        "correctors": ["Jefa@Example.org"], "retrain_schedule": "0 3 * * sun",
        "promote_margin": 0.01, "promote_on": "mean"}}).tracking
    assert cfg.correctors == ("jefa@example.org",) and cfg.retrain_schedule == "0 3 * * sun"
    assert (cfg.promote_margin, cfg.promote_on) == (0.01, "mean")


def test_each_language_reads_its_own_numbers_dates_and_class_names(desk):
    tmp, _spec, config = desk
    spanish, english = tmp / "es.html", tmp / "en.html"
    run(config, "--out", str(spanish))
    run(config, "--out", str(english), "--language", "en")
    es, en = spanish.read_text(encoding="utf-8"), english.read_text(encoding="utf-8")
    assert re.search(r"\d+,\d %", es) and not re.search(r"\d+\.\d %", es)
    assert re.search(r"\d+\.\d%", en)
    assert re.search(r"\d{1,2} (ene|feb|mar|abr|may|jun|jul|ago|sept?|oct|nov|dic) \d{4}", es)
    assert re.search(r"\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sept?|Oct|Nov|Dec) \d{4}", en)
    assert not re.search(r"\d{4}-W\d\d|\d{4}-\d\d-\d\d", es.split("<svg")[0])
    assert '<td class="l">incidencia</td>' in es and '<td class="l">incident</td>' not in es
    assert '<td class="l">service request</td>' in en and "service_request</td>" not in en
    assert "align-items: flex-start" in es  # rows beside a chart keep their height
