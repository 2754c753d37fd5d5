"""The misclassification report: one self-contained HTML file, CSV tables, a weekly mail.

The HTML carries its charts inline (SVG) and no script or external link, so a practice
owner can open it offline or from a mail attachment. Words live in the templates
(`templates/report/<language>.html.j2`), which a site may override like any other.
"""

from __future__ import annotations

import csv
import logging
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import Engine

from pipeline.addresses import domain_of
from pipeline.config import Config
from pipeline.db import utcnow
from pipeline.outbound import render
from pipeline.outbound.headers import SMTP_POLICY
from pipeline.schema import outbox
from pipeline.tracking import charts, metrics
from pipeline.tracking.formats import Formats

log = logging.getLogger("triaje.report")
HEAD_NAMES = {"es": {"type": "Tipo", "priority": "Prioridad", "queue": "Cola"},
              "en": {"type": "Type", "priority": "Priority", "queue": "Queue"}}
SUBJECT = {"es": "Informe de clasificación", "en": "Classification report"}


def build(engine: Engine, config: Config, since: datetime | None = None) -> dict[str, Any]:
    data = metrics.collect(engine, config.desk.timezone, since)
    data["generated_at"] = utcnow().astimezone(ZoneInfo(config.desk.timezone)).isoformat(
        timespec="minutes")
    data["since"] = since.isoformat() if since else None
    return data


def render_html(data: dict[str, Any], config: Config, language: str | None = None) -> str:
    language = language or config.tracking.report_language
    names = HEAD_NAMES.get(language, HEAD_NAMES["en"])
    env = render.environment(config.outbound.templates.directory)
    template = env.get_template(f"report/{language}.html.j2")
    weeks = sorted({w["week"] for m in data["heads"].values() for w in m["by_week"]})
    fmt = Formats(language)
    return template.render(data=data, charts=_charts(data, names, fmt), names=names,
                           language=language, pct=fmt.pct, num=fmt.num, day=fmt.day,
                           moment=fmt.moment, week_name=fmt.week, label_name=fmt.label,
                           weeks=weeks, desk_name=config.outbound.from_name)


def _charts(data: dict[str, Any], names: dict[str, str], fmt: Formats) -> dict[str, Any]:
    heads, language = data["heads"], fmt.language
    if not heads:
        return {"rate": None, "coverage": None, "confusion": {}, "classes": {}}
    return {
        "rate": Markup(charts.rate_over_time(heads, names, language)),
        "coverage": Markup(charts.coverage_precision(heads, names, language)),
        "confusion": {h: Markup(charts.confusion_heatmap(_named_confusion(m["confusion"], h, fmt),
                                                         names.get(h, h), language))
                      for h, m in heads.items() if m["confusion"]["labels"]},
        "classes": {h: Markup(charts.precision_recall(
            [{**c, "label": fmt.label(h, c["label"])} for c in m["by_class"]], names.get(h, h),
            language)) for h, m in heads.items() if m["by_class"]},
    }


def _named_confusion(confusion: dict[str, Any], head: str, fmt: Formats) -> dict[str, Any]:
    return {**confusion, "labels": [fmt.label(head, label) for label in confusion["labels"]]}


def write_html(engine: Engine, config: Config, out: Path, language: str | None = None,
               since: datetime | None = None) -> dict[str, Any]:
    data = build(engine, config, since)
    out.write_text(render_html(data, config, language), encoding="utf-8")
    return data


TABLES = ("by_class", "by_week", "by_model", "by_mailbox", "curve")


def write_csv(data: dict[str, Any], directory: Path) -> list[Path]:
    """One CSV per table, each with a `head` column, plus a matrix per head."""
    directory.mkdir(parents=True, exist_ok=True)
    return [_csv(directory / f"{name}.csv", rows) for name, rows in csv_tables(data).items()]


def csv_tables(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The CSV tables by name (the files `write_csv` writes, the web desk's downloads)."""
    summary = [{"head": h, **{k: v for k, v in m.items() if not isinstance(v, list | dict)},
                **{f"audit_{k}": v for k, v in m["audit"].items()},
                **{f"threshold_{k}": v for k, v in m["threshold"].items()}}
               for h, m in data["heads"].items()]
    tables = {"summary": summary}
    for table in TABLES:
        tables[table] = [{"head": h, **row} for h, m in data["heads"].items() for row in m[table]]
    tables["confused_pairs"] = [{"head": h, **p, "examples": " | ".join(p["examples"])}
                                for h, m in data["heads"].items() for p in m["confused_pairs"]]
    for head, m in data["heads"].items():
        tables[f"confusion_{head}"] = [
            {"truth": label, **dict(zip(m["confusion"]["labels"], row, strict=True))}
            for label, row in zip(m["confusion"]["labels"], m["confusion"]["matrix"], strict=True)]
    return tables


def csv_text(rows: list[dict[str, Any]], out: Any) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row)) or ["head"]
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows(rows)


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv_text(rows, f)
    return path


def compose_mail(config: Config, html: str, data: dict[str, Any]) -> tuple[str, bytes]:
    """The weekly mail: a short text summary, the report attached as report.html."""
    language = config.tracking.report_language
    cfg = config.outbound
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = f"{cfg.from_name} <{cfg.from_address}>"
    msg["To"] = ", ".join(config.tracking.report_recipients)
    msg["Subject"] = f"{SUBJECT.get(language, SUBJECT['en'])} {Formats(language).day(data['generated_at'])}"
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=domain_of(cfg.from_address))
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(summary_text(data, language, attached=True))
    msg.add_attachment(html.encode("utf-8"), maintype="text", subtype="html",
                       filename="report.html")
    return msg["Message-ID"], msg.as_bytes(policy=SMTP_POLICY)


def summary_text(data: dict[str, Any], language: str, attached: bool = False) -> str:
    """A few lines per head: the mail's body, and `triaje report` without an output."""
    names = HEAD_NAMES.get(language, HEAD_NAMES["en"])
    intro = {"es": "Mal clasificado, visto en correcciones (y estimado por auditoría):",
             "en": "Misclassified, as seen in corrections (and estimated by the audit):"}
    attachment = {"es": "Informe completo adjunto (report.html).",
                  "en": "Full report attached (report.html)."}
    audit_word = {"es": "auditoría", "en": "audit"}
    lines = [attachment.get(language, attachment["en"])] if attached else []
    lines.append(intro.get(language, intro["en"]))
    for head, m in data["heads"].items():
        fmt = Formats(language)
        lines.append(f"- {names.get(head, head)}: {fmt.num(m['misclassified'])} / "
                     f"{fmt.num(m['predictions'])} ({fmt.pct(m['rate'])}); "
                     f"{audit_word.get(language, 'audit')} {fmt.pct(m['audit']['rate'])} "
                     f"[{fmt.pct(m['audit']['ci_low'])}, {fmt.pct(m['audit']['ci_high'])}]")
    return "\n".join(lines) + "\n"


def mail_report(engine: Engine, config: Config) -> int | None:
    """Queue the report for `[tracking] report_recipients`; the outbox sends it."""
    if not config.tracking.report_recipients:
        return None
    data = build(engine, config)
    message_id, raw = compose_mail(config, render_html(data, config), data)
    with engine.begin() as conn:
        row = conn.execute(outbox.insert().values(
            ticket_id=None, inbound_id=None, kind="report",
            recipients=",".join(config.tracking.report_recipients), message_id=message_id,
            raw=raw, state="queued", attempts=0, next_attempt_at=utcnow(), created_at=utcnow()))
    log.info("report queued for %s", ", ".join(config.tracking.report_recipients))
    return row.inserted_primary_key[0]
