"""Every text a person receives answers what they wrote: the right words for each type, in
their language and register, no label codes, and no promise outside business hours."""

from __future__ import annotations

import email
import re
from dataclasses import replace
from datetime import datetime, timedelta
from email import policy
from email.utils import formataddr
from zoneinfo import ZoneInfo

import outgoing
import pytest

from pipeline.config import from_dict
from pipeline.outbound import mailvars, route
from pipeline.outbound.salutation import formal, given_name
from pipeline.outbound.templatecheck import Guess, sample_context, sample_raw
from pipeline.vocabulary import TERMS

MADRID = ZoneInfo("Europe/Madrid")
CONFIG = {
    "smtp": {"url": "smtp://127.0.0.1:2525", "from": "Mesa de servicio <desk@example.org>"},
    "routing": {"default": "n1@example.org", "triage": "triage@example.org",
                "rules": [{"type": ["incidencia"], "priority": ["crítica", "alta"],
                           "to": ["n2@example.org"]}]},
    "service_levels": {"timezone": "Europe/Madrid", "business_hours": "08:00-18:00",
                       "business_days": [1, 2, 3, 4, 5]},
    "complaints": {"role": {"es": "la responsable de calidad", "en": "our quality manager"},
                   "owner": ["calidad@example.org"]},
    "outbox": {"followup_note": True},
}
KINDS = ("incident", "service_request", "inquiry", "complaint", "compliment", "uncertain")
CODES = [t.code for terms in TERMS.values() for t in terms]
INFORMAL_ES = "Hola, ¿me podéis ayudar? No me va la impresora. Gracias!"
FORMAL_ES = ("Estimados señores:\n\nLes agradecería que revisaran la impresora de la segunda "
             "planta, que no imprime.\n\nAtentamente,\nLucía Fernández")
BODIES = {("es", False): INFORMAL_ES, ("es", True): FORMAL_ES,
          ("en", False): "Hi, the printer on the second floor does not print. Thanks!"}


def cfg(**changes):
    return from_dict({**CONFIG, **changes}).outbound


def predictions(kind: str, priority: str = "high") -> dict:
    return {"type": Guess("incident" if kind == "uncertain" else kind, 0.9, kind == "uncertain"),
            "priority": Guess(priority, 0.85), "queue": Guess("hardware", 0.8)}


def context(kind: str, language: str, formal_writer: bool, sender_name: str = "Lucía Fernández García",
            received: datetime | None = None):
    raw = sample_raw(language, body=BODIES[(language, formal_writer)])
    sender = formataddr((sender_name, "lucia@example.org"), charset="utf-8")
    raw = re.sub(rb"^From: .*$", f"From: {sender}".encode(), raw, count=1, flags=re.M)
    ctx = sample_context(language, raw=raw, predictions=predictions(kind))
    return ctx if received is None else replace(ctx, received_at=received)


def mails(kind: str, language: str, formal_writer: bool = False, **ctx_args) -> dict:
    found = outgoing.build_mails(cfg(), context(kind, language, formal_writer, **ctx_args))
    return {m.kind: email.message_from_bytes(m.raw, policy=policy.default) for m in found}


def text_of(msg) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html_of(msg) -> str:
    return msg.get_body(("html",)).get_content().replace("\r\n", "\n")


CASES = [(kind, language, formal_writer) for kind in KINDS
         for language, formal_writer in BODIES]


@pytest.mark.parametrize("kind, language, formal_writer", CASES)
def test_no_label_code_reaches_a_person(kind, language, formal_writer):
    for mail_kind, msg in mails(kind, language, formal_writer).items():
        for body in (text_of(msg), html_of(msg), str(msg["Subject"])):
            assert "_" not in re.sub(r"\S+@\S+", "", body), mail_kind
            if language == "es":
                words = set(re.findall(r"[a-z_]+", body))
                assert not words & set(CODES), (mail_kind, words & set(CODES))
            assert "routing.rules" not in body


@pytest.mark.parametrize("language, formal_writer", list(BODIES))
def test_incidents_and_complaints_apologise_requests_do_not(language, formal_writer):
    sorry = re.compile(r"sentimos|lamentamos|disculpas|sorry|apologi", re.IGNORECASE)
    for kind in ("incident", "complaint"):
        assert sorry.search(text_of(mails(kind, language, formal_writer)["ack"])), kind
    for kind in ("service_request", "inquiry", "compliment", "uncertain"):
        assert not sorry.search(text_of(mails(kind, language, formal_writer)["ack"])), kind


@pytest.mark.parametrize("language, formal_writer", list(BODIES))
def test_a_thank_you_gets_a_thank_you_and_no_procedure(language, formal_writer):
    ack = mails("compliment", language, formal_writer)["ack"]
    for body in (text_of(ack), html_of(ack)):
        assert re.search(r"gracias|thank you", body, re.IGNORECASE)
        assert not re.search(r"como muy tarde|at the latest|captura|screenshot|responde|reply to",
                             body, re.IGNORECASE)
        assert "SD-000123" in body  # discreetly, at the bottom


def test_a_complaint_names_who_handles_it_and_reaches_the_complaints_owner():
    sent = mails("complaint", "es")
    text = text_of(sent["ack"])
    assert "la responsable de calidad" in text and "queja" in text
    assert "sobre los equipos y dispositivos" in text  # what they told us, in general terms
    assert "calidad@example.org" in str(sent["route"]["To"])


def test_uncertain_never_claims_to_have_understood():
    for language in ("es", "en"):
        text = text_of(mails("uncertain", language)["ack"])
        assert re.search(r"una persona del equipo|a member of our team", text, re.IGNORECASE)
        assert not re.search(r"incidencia|incident|solicitud|request|entendido|understood", text,
                             re.IGNORECASE)


@pytest.mark.parametrize("kind", KINDS)
def test_usted_for_a_formal_writer_and_tu_for_an_informal_one(kind):
    usted = text_of(mails(kind, "es", True)["ack"])
    tu = text_of(mails(kind, "es", False)["ack"])
    assert re.search(r"\b(su|le|usted|Reciba)\b", usted) and not re.search(r"\b(tu|te|tienes)\b", usted)
    assert re.search(r"\b(tu|te|tienes|Un saludo)\b", tu) and not re.search(r"\b(su caso|le daremos)\b", tu)


def test_the_register_can_be_fixed_by_the_desk():
    fixed = from_dict({**CONFIG, "desk": {"spanish_register": "usted"}}).outbound
    ctx = context("incident", "es", False)
    assert mailvars.variables(fixed, ctx, "es", route.decide(fixed.routing, ctx))["formal"]
    assert formal(INFORMAL_ES) is False and formal(FORMAL_ES) is True
    assert formal(INFORMAL_ES, "usted") is True and formal(FORMAL_ES, "tu") is False


@pytest.mark.parametrize("display, expected", [
    ("Lucía Fernández García", "Lucía"), ("FERNÁNDEZ GARCÍA, LUCÍA", "Lucía"),
    ("Dra. Lucía Fernández", "Lucía"), ("María José Ruiz Gil", "María José"),
    ("María del Carmen Ortega", "María del Carmen"), ("Juan Pérez", "Juan"),
    ("Contabilidad", ""), ("IT Support", ""), ("lucia@example.org", ""), ("jperez", ""),
    ("Departamento de Compras", ""), ("", ""), ("Ann Green", "Ann"),
])
def test_greeting_uses_the_given_name_only(display, expected):
    assert given_name(display) == expected


def test_greeting_in_the_mail():
    assert text_of(mails("incident", "es")["ack"]).startswith("Hola, Lucía:\n")
    assert text_of(mails("incident", "es", sender_name="Contabilidad")["ack"]).startswith("Hola:\n")
    assert text_of(mails("incident", "en", sender_name="Ann Green")["ack"]).startswith("Hello Ann,\n")


def test_promises_fall_inside_business_hours():
    config = cfg()
    start = datetime(2026, 11, 30, 0, 7, tzinfo=MADRID)  # a Monday, then every 97 minutes
    for step in range(7 * 24 * 60 // 97):
        received = start + timedelta(minutes=97 * step)
        for kind in KINDS:
            ctx = context(kind, "es", False, received=received)
            values = mailvars.variables(config, ctx, "es", route.decide(config.routing, ctx))
            due = datetime.fromisoformat(values["first_response_due_iso"])
            assert (due.isoweekday() <= 5 and 8 <= due.hour < 18) or (due.hour, due.minute) == (18, 0), \
                (received, kind, due)
            assert due > received


def test_the_reference_never_breaks_across_lines_in_html():
    for kind in KINDS:
        for msg in mails(kind, "es").values():
            assert 'white-space: nowrap;">SD-000123<' in html_of(msg)


def test_spanish_team_mail_speaks_spanish_with_names_and_the_rule_in_words():
    route_mail = mails("incident", "es")["route"]
    text = text_of(route_mail)
    assert route_mail["Subject"] == "[SD-000123] Incidencia (prioridad alta): No puedo imprimir"
    assert "tipo: incidencia (90 % de confianza)" in text and "prioridad: alta (85 %" in text
    assert "cola: Puesto de trabajo" in text
    assert "(tipo incidencia y prioridad crítica o alta)" in text


def test_a_team_can_read_english():
    english = from_dict({**CONFIG, "routing": {**CONFIG["routing"],
                                               "languages": {"n2@example.org": "en"}}}).outbound
    found = outgoing.build_mails(english, context("incident", "es", False))
    route_mail = email.message_from_bytes(found[1].raw, policy=policy.default)
    assert route_mail["Subject"] == "[SD-000123] Incident (high priority): No puedo imprimir"
    assert "type: incident (90% confidence)" in text_of(route_mail)
    assert "(type incident and priority critical or high)" in text_of(route_mail)
