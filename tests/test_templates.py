"""Templates: every kind renders in es/en, text and HTML, strictly; overrides; user text stays literal."""

from __future__ import annotations

import email
import re
from dataclasses import replace
from email import policy
from importlib.resources import files

import jinja2
import outgoing
import pytest

from pipeline.config import from_dict
from pipeline.errors import StageError
from pipeline.outbound import mailvars, render, route
from pipeline.outbound.templatecheck import KINDS, Guess, check_templates, sample_context, sample_raw

CONFIG = {"smtp": {"url": "smtp://127.0.0.1:2525", "from": "Mesa de servicio <desk@example.org>"},
          "routing": {"default": "n1@example.org", "triage": "triage@example.org"}}


def outbound(**templates):
    data = dict(CONFIG, templates=templates) if templates else CONFIG
    return from_dict(data).outbound


def parts(raw: bytes) -> tuple[email.message.EmailMessage, str, str]:
    msg = email.message_from_bytes(raw, policy=policy.default)
    text, html = (msg.get_body((subtype,)).get_content().replace("\r\n", "\n")
                  for subtype in ("plain", "html"))
    return msg, text, html


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("fmt", ["txt", "html"])
def test_every_bundled_template_renders_strictly(kind, language, fmt):
    cfg = outbound()
    ctx = sample_context(language, is_followup=kind in ("forward", "followup"),
                         owner_team=("team@example.org",))
    values = mailvars.variables(cfg, ctx, language, route.decide(cfg.routing, ctx))
    env = render.environment(None)
    assert env.undefined is jinja2.StrictUndefined
    text = env.get_template(render.template_name(kind, language, fmt)).render(values)
    assert ctx.ticket_ref in text
    assert "{{" not in text and "{%" not in text
    if fmt == "html":
        assert text.lstrip().startswith("<!DOCTYPE html>")


def test_check_templates_covers_every_kind_and_language():
    checked = check_templates(outbound())
    assert checked == sorted(f"{k}/{lang}" for k in KINDS for lang in ("en", "es"))


def test_missing_variable_is_an_error_not_a_gap(tmp_path):
    (tmp_path / "ack").mkdir()
    (tmp_path / "ack" / "es.txt.j2").write_text("Hola {{ nombre_que_no_existe }}\n")
    with pytest.raises(StageError, match=r"ack/es\.txt\.j2"):
        outgoing.build_mails(outbound(directory=str(tmp_path)), sample_context("es"))


def test_ack_says_what_was_understood_in_plain_words():
    cfg = outbound()
    _, es, _ = parts(outgoing.build_mails(cfg, sample_context("es"))[0].raw)
    assert "Sentimos las molestias" in es and "SD-000123" in es and "incident" not in es
    request = {"type": Guess("request", 0.9), "priority": Guess("low", 0.9)}  # a synonym
    _, en, _ = parts(outgoing.build_mails(cfg, sample_context("en", predictions=request))[0].raw)
    assert "We have received your request" in en and "sorry" not in en
    assert "request," not in en and "reply to this email" in en


def test_doubtful_type_is_not_claimed_in_the_ack():
    cfg = outbound()
    unsure = {"type": Guess("incident", 0.4, True), "priority": Guess("high", 0.9)}
    _, text, _ = parts(outgoing.build_mails(cfg, sample_context("es", predictions=unsure))[0].raw)
    assert "incidencia" not in text and "Una persona del equipo lo leerá" in text


def test_routing_mail_carries_labels_confidence_sender_text_and_how_to_correct():
    cfg = outbound()
    ctx = sample_context("es")
    route_mail = outgoing.build_mails(cfg, ctx)[1]
    msg, text, html = parts(route_mail.raw)
    for needle in ("tipo: incidencia (93 % de confianza)", "prioridad: alta (81 %",
                   "cola: Puesto de trabajo (77 %", "ana@example.org", "SD-000123",
                   "la impresora de la segunda planta", "tipo: incidencia", "prioridad: alta",
                   "cola: redes"):
        assert needle in text
    assert "93 % de confianza" in html
    attached = [p for p in msg.iter_attachments() if p.get_content_type() == "message/rfc822"]
    assert len(attached) == 1


def test_user_text_is_literal_never_template_code():
    hostile_subject = "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %} {{ config }}"
    hostile_body = "Hola {{ 6*7 }} {% raw %}x{% endraw %} {# comment #} <b>bold</b> & co"
    raw = sample_raw("es", subject=hostile_subject, body=hostile_body)
    ctx = sample_context("es", raw=raw)
    for mail in outgoing.build_mails(outbound(), ctx):
        msg, text, html = parts(mail.raw)
        assert "{{ 6*7 }} {% raw %}x{% endraw %} {# comment #}" in text
        assert "42" not in text and "49" not in text and "looploop" not in text
        assert "<b>bold</b> &amp; co" not in text and "<b>bold</b> & co" in text
        assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html and "<b>bold</b>" not in html
        assert "{{ 7*7 }}" in msg["Subject"]


def test_sender_name_is_escaped_in_html():
    raw = sample_raw("en").replace(b"Ann Green", b'"<script>alert(1)</script>"')
    team = outgoing.build_mails(outbound(), sample_context("en", raw=raw))[1]
    assert team.kind == "route"  # the team mail shows the sender's display name
    _, text, html = parts(team.raw)
    assert "<script>" in text and "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_site_folder_overrides_one_template_and_keeps_the_rest(tmp_path):
    (tmp_path / "ack").mkdir()
    (tmp_path / "ack" / "es.txt.j2").write_text(
        "Nuestra plantilla: {{ ticket_ref }} para {{ sender }}\n", encoding="utf-8")
    cfg = outbound(directory=str(tmp_path))
    ack, route_mail = outgoing.build_mails(cfg, sample_context("es"))
    _, text, html = parts(ack.raw)
    assert text == "Nuestra plantilla: SD-000123 para ana@example.org\n"
    assert "Sentimos las molestias" in html  # the HTML part is still the bundled one
    assert "Os llega un caso nuevo" in parts(route_mail.raw)[1]


def test_site_can_add_a_language_and_unknown_languages_fall_back(tmp_path):
    (tmp_path / "ack").mkdir()
    for fmt in ("txt", "html"):
        (tmp_path / "ack" / f"ca.{fmt}.j2").write_text(
            "Hem rebut el teu missatge: {{ ticket_ref }}, {{ first_response_due }}\n",
            encoding="utf-8")
    cfg = outbound(directory=str(tmp_path), default_language="en")
    catalan = replace(sample_context("es"), parsed=replace(sample_context("es").parsed,
                                                           language="ca"))
    _, text, _ = parts(outgoing.build_mails(cfg, catalan)[0].raw)
    assert text.startswith("Hem rebut el teu missatge: SD-000123, 2026-11-27 19:45")
    german = replace(catalan, parsed=replace(catalan.parsed, language="de"))
    _, text, _ = parts(outgoing.build_mails(cfg, german)[0].raw)
    assert "Your case reference: SD-000123" in text
    assert "ca" in check_templates_languages(cfg)


def check_templates_languages(cfg) -> set[str]:
    return {name.split("/")[1] for name in check_templates(cfg)}


def test_default_language_is_used_for_undetermined_senders():
    cfg = outbound(default_language="en")
    ctx = sample_context("es")
    ctx = replace(ctx, parsed=replace(ctx.parsed, language="und"))
    _, text, _ = parts(outgoing.build_mails(cfg, ctx)[0].raw)
    assert text.startswith("Hello")


def test_readme_documents_every_variable():
    cfg = outbound()
    ctx = sample_context("es")
    names = mailvars.variables(cfg, ctx, "es", route.decide(cfg.routing, ctx))
    readme = files("pipeline.templates").joinpath("README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(\w+)` \|", readme, re.MULTILINE))
    assert documented == set(names)


def test_bundled_templates_use_only_documented_variables():
    readme = files("pipeline.templates").joinpath("README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(\w+)` \|", readme, re.MULTILINE))
    env = render.environment(None)
    from jinja2 import meta

    root = files("pipeline.templates")
    for folder in ("_base", *KINDS):
        for resource in root.joinpath(folder).iterdir():
            if resource.name.endswith(".j2"):
                used = meta.find_undeclared_variables(env.parse(resource.read_text("utf-8")))
                assert used <= documented, (resource.name, used - documented)
