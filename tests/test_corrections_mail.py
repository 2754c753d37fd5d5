"""Corrections by mail through a real Dovecot and a real SMTP receiver: a team member
replies to the routing mail with `cola: redes`, and nothing else is needed."""

from __future__ import annotations

import email
from email import policy

import pytest
from conftest import make_mail
from helpers import build_env, count, run_cycle
from smtp_receiver import Receiver
from sqlalchemy import select
from stubmodel import KeywordModel

from pipeline.outbound import sender
from pipeline.schema import correction_mails, inbound
from pipeline.schema import labels as labels_table
from pipeline.schema import outbox as outbox_table
from pipeline.tracking import labels, review

pytestmark = pytest.mark.dovecot


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def setup_desk(deskbox, tmp_path, monkeypatch, receiver, **tracking):
    cfg = deskbox.config(tmp_path, monkeypatch)
    cfg["smtp"] = {"url": receiver.url, "from": "Mesa de servicio <desk@example.org>"}
    cfg["routing"] = {"triage": "triage@example.org", "default": "n1@example.org",
                      "rules": [{"queue": ["hardware"], "to": ["hw@example.org"]},
                                {"queue": ["network"], "to": ["redes@example.org"]}]}
    if tracking:
        cfg["tracking"] = tracking
    env = build_env(cfg)
    env.model = KeywordModel()
    deskbox.append(make_mail(subject="La impresora no imprime", sender="ana@example.com",
                             message_id="<user-1@example.com>"))
    run_cycle(env)
    return env


def mails_to(receiver, address):
    return [email.message_from_bytes(m.data, policy=policy.default)
            for m in receiver.messages if address in m.rcpt_tos]


def team_reply(route, sender, text, **headers):
    body = (f"{text}\n\nEl jue, 27 nov 2026 a las 10:00, Mesa de servicio escribió:\n"
            "> tipo: consulta\n> cola: compras\n")
    return make_mail(subject=f"Re: {route['Subject']}", sender=sender, body=body, **headers)


def stored_labels(env):
    with env.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(labels_table).order_by(labels_table.c.id))]


def test_valid_correction_is_recorded_and_rerouted(deskbox, tmp_path, monkeypatch, receiver):
    env = setup_desk(deskbox, tmp_path, monkeypatch, receiver)
    route = mails_to(receiver, "hw@example.org")[0]
    before = len(receiver.messages)
    deskbox.append(team_reply(route, "HW Team <hw@example.org>", "cola: redes\ntipo: Incidente",
                              In_Reply_To=route["Message-ID"], References=route["Message-ID"]))
    summary = run_cycle(env)
    assert summary.new_tickets == 0
    got = stored_labels(env)
    assert {(g["head"], g["label"]) for g in got} == {("queue", "network"), ("type", "incident")}
    assert {g["source"] for g in got} == {"email"} and {g["author"] for g in got} == {"hw@example.org"}
    with env.engine.connect() as conn:
        first = conn.execute(select(inbound.c.id).where(
            inbound.c.message_id == "<user-1@example.com>")).scalar_one()
        reply = conn.execute(select(inbound).where(inbound.c.id != first)).one()
        record = conn.execute(select(correction_mails)).one()
    assert {g["inbound_id"] for g in got} == {first}
    assert {g["origin_inbound_id"] for g in got} == {reply.id}
    assert reply.state == "processed" and reply.auto_reason == "label correction"
    assert record.target_inbound_id == first and record.rerouted_to == "redes@example.org"
    new = receiver.messages[before:]
    assert [m.rcpt_tos for m in new] == [["redes@example.org"]]  # no ack, no forward to hw
    rerouted = email.message_from_bytes(new[0].data, policy=policy.default)
    assert "SD-000001" in rerouted["Subject"] and rerouted["Auto-Submitted"] == "auto-generated"
    assert any(p.get_content_type() == "message/rfc822" for p in rerouted.walk())
    assert count(env) == 1

    ack = mails_to(receiver, "ana@example.com")[0]  # the user writes again: the new team gets it
    deskbox.append(make_mail(subject=f"Re: {ack['Subject']}", sender="ana@example.com",
                             body="Sigue sin imprimir.", In_Reply_To=ack["Message-ID"]))
    run_cycle(env)
    assert len(mails_to(receiver, "redes@example.org")) == 2
    assert len(mails_to(receiver, "hw@example.org")) == 1


def test_unknown_label_gets_a_reply_listing_the_valid_ones(deskbox, tmp_path, monkeypatch,
                                                            receiver):
    env = setup_desk(deskbox, tmp_path, monkeypatch, receiver)
    route = mails_to(receiver, "hw@example.org")[0]
    before = len(receiver.messages)
    deskbox.append(team_reply(route, "hw@example.org", "prioridad: altísima",
                              In_Reply_To=route["Message-ID"]))
    run_cycle(env)
    assert stored_labels(env) == []
    new = receiver.messages[before:]
    assert [m.rcpt_tos for m in new] == [["hw@example.org"]]
    answer = email.message_from_bytes(new[0].data, policy=policy.default)
    text = answer.get_body(("plain",)).get_content()
    assert "altísima" in text and "SD-000001" in answer["Subject"]
    for label in labels.known_labels("priority", env.model):
        assert label in text
    assert answer.get_body(("html",)) is not None
    assert answer["In-Reply-To"] and answer["Auto-Submitted"] == "auto-replied"
    with env.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(outbox_table.c.kind))]
    assert kinds.count("correction") == 1 and "forward" not in kinds


def test_strangers_lines_are_ignored(deskbox, tmp_path, monkeypatch, receiver):
    env = setup_desk(deskbox, tmp_path, monkeypatch, receiver)
    route = mails_to(receiver, "hw@example.org")[0]
    deskbox.append(team_reply(route, "mallory@example.net", "cola: redes",
                              In_Reply_To=route["Message-ID"]))
    run_cycle(env)
    assert stored_labels(env) == []
    with env.engine.connect() as conn:
        assert conn.execute(select(correction_mails)).all() == []
    assert mails_to(receiver, "mallory@example.net") == []
    assert mails_to(receiver, "redes@example.org") == []


def test_configured_corrector_by_ticket_reference(deskbox, tmp_path, monkeypatch, receiver):
    env = setup_desk(deskbox, tmp_path, monkeypatch, receiver, correctors=["jefa@example.org"])
    deskbox.append(make_mail(subject="Re: [SD-000001] la impresora", sender="jefa@example.org",
                             body="Type: service request\nQueue: Hardware\n"))
    run_cycle(env)
    got = {(g["head"], g["label"], g["author"]) for g in stored_labels(env)}
    assert got == {("type", "service_request", "jefa@example.org"),
                   ("queue", "hardware", "jefa@example.org")}
    assert mails_to(receiver, "jefa@example.org") == []  # understood: no answer
    assert len(mails_to(receiver, "hw@example.org")) == 1  # same team: no second routing mail


def test_a_review_correction_reroutes_like_a_mail_correction(deskbox, tmp_path, monkeypatch,
                                                             receiver):
    env = setup_desk(deskbox, tmp_path, monkeypatch, receiver)
    assert len(mails_to(receiver, "hw@example.org")) == 1
    with env.engine.connect() as conn:
        first = conn.execute(select(inbound.c.id)).scalar_one()
    rerouted = review.decide_item(env.engine, env.config, env.model, first,
                                  [("queue", "correct", "network"), ("type", "accept", None)],
                                  "lucia")
    assert rerouted == ["redes@example.org"]
    sender.drain(env.engine, env.config.outbound)
    moved = mails_to(receiver, "redes@example.org")
    assert len(moved) == 1 and "SD-000001" in moved[0]["Subject"]
    assert moved[0]["Auto-Submitted"] == "auto-generated"
    assert any(p.get_content_type() == "message/rfc822" for p in moved[0].walk())
    got = {(g["head"], g["label"], g["source"], g["author"]) for g in stored_labels(env)}
    assert ("queue", "network", "review", "lucia") in got
    # the same correction again changes no team: no second routing mail
    assert review.decide_item(env.engine, env.config, env.model, first,
                              [("queue", "correct", "network")], "lucia") == []


def test_the_rerouted_mail_says_who_corrected_it_and_their_note(deskbox, tmp_path, monkeypatch,
                                                                receiver):
    env = setup_desk(deskbox, tmp_path, monkeypatch, receiver)
    route = mails_to(receiver, "hw@example.org")[0]
    deskbox.append(team_reply(route, "HW Team <hw@example.org>",
                              "cola: redes\nEs la toma de red de la planta 2, no la impresora.",
                              In_Reply_To=route["Message-ID"]))
    run_cycle(env)
    moved = mails_to(receiver, "redes@example.org")[0]
    text = moved.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert moved["Subject"].startswith("[SD-000001] Caso reasignado: ")
    assert "Caso reasignado: hw@example.org ha corregido la clasificación" in text
    assert "Su nota: «Es la toma de red de la planta 2, no la impresora.»\n" in text
    assert "cola: Redes (corregido por hw@example.org)" in text
    assert "Os llega un caso nuevo" not in text
