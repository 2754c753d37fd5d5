"""The set-based write path (pipeline/process/batchwrite.py) writes the same rows as the
per-message stages, in a fraction of the statements, and falls back to them whenever it
cannot: a poison message still ends in quarantine with its stage and reason.

Each scenario is processed twice, on two fresh databases of the run's engine: once as the
runner does it (fast path first) and once with the fast path refused, which is the
per-message path as it was before. The rows must be equal, ids included.
"""

from __future__ import annotations

import json

import pytest
from conftest import ENGINE, fresh_database, make_mail
from helpers import build_env
from sqlalchemy import event, select
from stubmodel import Guess, KeywordModel

from pipeline.ingest import rawstore
from pipeline.ingest.rawstore import Origin
from pipeline.outbound import planner
from pipeline.process import batchwrite, runner
from pipeline.schema import audit_sample, inbound, outbox, predictions, tickets

VOLATILE_PLAN = ("date", "received_at")


@pytest.fixture
def second_url(request, tmp_path):
    with fresh_database(request, tmp_path, "second") as url:
        yield url


class PoisonModel(KeywordModel):
    """A label the database refuses (NOT NULL) for a subject with "veneno" in it."""

    def _one(self, subject: str) -> dict[str, Guess]:
        guesses = super()._one(subject)
        if "veneno" in subject:
            guesses["type"] = Guess(None, 0.99)  # type: ignore[arg-type]
        return guesses


def _env(url: str, tmp_path, model=None):
    env = build_env({"database": {"url": url}, "mailboxes": [],
                     "desk": {"addresses": ["desk@example.org"], "sender_limit": 3},
                     "routing": {"default": ["n1@example.org"], "triage": ["triage@example.org"]},
                     "outbox": {"recipient_limit": 2},
                     "tracking": {"audit_fraction": 0.5},
                     "classifier": {"models_dir": str(tmp_path / "models")}})
    env.model = model or KeywordModel()
    return env


def _mixed() -> list[bytes]:
    """New tickets, follow-ups (In-Reply-To) to tickets opened in the same batch, a subject
    naming a ticket that does not exist, an out-of-office, a looping sender over its limit,
    an address over the ack limit, confident and unsure labels."""
    mails = [make_mail("La impresora no imprime", sender="ana@example.com", message_id="<a1@x>"),
             make_mail("Sin acceso al correo", sender="luis@example.com", message_id="<l1@x>"),
             make_mail("Re: La impresora no imprime", sender="ana@example.com",
                       In_Reply_To="<a1@x>", References="<a1@x>"),
             make_mail("Re: [SD-000099] Sin acceso", sender="luis@example.com"),
             make_mail("Fuera de la oficina", sender="eva@example.com",
                       Auto_Submitted="auto-replied"),
             make_mail("no sé qué pasa", sender="eva@example.com")]
    mails += [make_mail(f"La red está caída {i}", sender="bucle@example.com") for i in range(5)]
    mails += [make_mail(f"Gracias {i}", sender="pepe@example.com") for i in range(3)]
    mails.append(make_mail("Re: otra", sender="ana@example.com", In_Reply_To="<l1@x>"))
    return mails


def _store(env, mails: list[bytes]) -> None:
    with env.engine.begin() as conn:
        for uid, raw in enumerate(mails, 1):
            rawstore.store_raw(conn, Origin("desk", "INBOX", 1, uid), raw)


def _snapshot(env) -> dict[str, list]:
    """The rows, with ticket numbers as their rank: on PostgreSQL a rolled-back insert
    still used its sequence value, so the per-message path after a fallback numbers
    tickets from a higher start (a gap, as any rolled-back savepoint leaves)."""
    with env.engine.connect() as conn:
        def rows(table, *columns):
            return [tuple(r) for r in conn.execute(select(*columns).order_by(*table.primary_key))]
        numbered = rows(tickets, tickets.c.id, tickets.c.ref, tickets.c.subject,
                        tickets.c.requester, tickets.c.status)
        rank = {row[0]: n for n, row in enumerate(numbered, 1)}
        refs = {row[1]: f"T#{rank[row[0]]}" for row in numbered}

        def renumber(text):
            for ref, new in refs.items():
                text = text.replace(ref, new)
            return text

        def inbound_row(row):  # a database error's reason ends with the (timed) parameters
            return (*row[:3], (row[3] or "").split("\n")[0], rank.get(row[4]), *row[5:])
        plans = [(rank.get(r.ticket_id), r.inbound_id, r.kind, r.recipients, r.state,
                  renumber(json.dumps({k: v for k, v in json.loads(r.plan).items()
                                       if k not in VOLATILE_PLAN}, sort_keys=True)))
                 for r in conn.execute(select(outbox).order_by(outbox.c.id))]
        return {
            "tickets": [(rank[r[0]], refs[r[1]], *r[2:]) for r in numbered],
            "inbound": [inbound_row(r) for r in rows(
                inbound, inbound.c.id, inbound.c.state, inbound.c.stage, inbound.c.reason,
                inbound.c.ticket_id, inbound.c.is_followup, inbound.c.automatic,
                inbound.c.auto_reason, inbound.c.sender, inbound.c.subject,
                inbound.c.body_text, inbound.c.notes)],
            "predictions": rows(predictions, predictions.c.inbound_id, predictions.c.head,
                                predictions.c.label, predictions.c.confidence,
                                predictions.c.needs_review, predictions.c.model_version),
            "audit": rows(audit_sample, audit_sample.c.inbound_id, audit_sample.c.draw,
                          audit_sample.c.fraction, audit_sample.c.drawn),
            "outbox": plans}


def _process(url, tmp_path, mails, monkeypatch, fast: bool, model=None) -> tuple[dict, dict]:
    """Rows after processing `mails` as one batch, and what the run did: per-message
    writes and SQL statements executed."""
    env = _env(url, tmp_path, model)
    _store(env, mails)
    seen = {"one by one": 0, "statements": 0}
    original = runner._write

    def one_by_one(*args):
        seen["one by one"] += 1
        return original(*args)

    def refuse(*_args):
        raise batchwrite.OneByOne("the test asks for the per-message path")

    def counted(*_args):
        seen["statements"] += 1

    with monkeypatch.context() as patch:
        patch.setattr(runner, "_write", one_by_one)
        if not fast:
            patch.setattr(batchwrite, "write", refuse)
        event.listen(env.engine, "before_cursor_execute", counted)
        summary = runner.process_pending(env)
        event.remove(env.engine, "before_cursor_execute", counted)
    seen["summary"] = summary.as_dict()
    snapshot = _snapshot(env)
    env.engine.dispose()
    return snapshot, seen


def test_the_fast_path_writes_what_the_stages_write(database_url, second_url, tmp_path,
                                                    monkeypatch):
    mails = _mixed()
    fast, did_fast = _process(database_url, tmp_path, mails, monkeypatch, fast=True)
    slow, did_slow = _process(second_url, tmp_path, mails, monkeypatch, fast=False)
    assert fast == slow
    assert did_fast["summary"] == did_slow["summary"]
    assert did_fast["one by one"] == 0 and did_slow["one by one"] == len(mails)
    assert did_fast["statements"] * 4 < did_slow["statements"]
    inbound_rows = {row[0]: row for row in fast["inbound"]}
    assert inbound_rows[3][4] == inbound_rows[1][4] and inbound_rows[3][5]  # In-Reply-To
    assert not inbound_rows[4][5]  # [SD-000099]: no such ticket, a new one
    assert inbound_rows[15][4] == inbound_rows[2][4]  # a reply to luis's mail, from ana
    assert "more than 3 messages" in inbound_rows[10][7]  # the 4th from bucle@ in 3,600 s
    assert [r[2] for r in fast["outbox"]].count("ack") < len(mails)
    assert fast["audit"] and fast["predictions"]


def test_the_fast_path_runs_as_many_statements_for_120_mails_as_for_60(
        database_url, second_url, tmp_path, monkeypatch):
    def plain(n: int) -> list[bytes]:
        return [make_mail(f"La impresora {i} no imprime", sender=f"u{i}@example.com")
                for i in range(n)]

    _, small = _process(database_url, tmp_path, plain(60), monkeypatch, fast=True)
    _, large = _process(second_url, tmp_path, plain(120), monkeypatch, fast=True)
    assert small["one by one"] == large["one by one"] == 0
    assert large["statements"] == small["statements"]


def test_a_poison_message_is_quarantined_and_the_rest_written_as_before(
        database_url, second_url, tmp_path, monkeypatch):
    mails = _mixed()
    mails.insert(3, make_mail("veneno en la impresora", sender="mal@example.com"))
    fast, did_fast = _process(database_url, tmp_path, mails, monkeypatch, fast=True,
                              model=PoisonModel())
    slow, _ = _process(second_url, tmp_path, mails, monkeypatch, fast=False, model=PoisonModel())
    assert fast == slow
    assert did_fast["one by one"] == len(mails)  # the fast path failed and fell back
    poisoned = [row for row in fast["inbound"] if row[1] == "quarantined"]
    assert [(row[0], row[2]) for row in poisoned] == [(4, "register")]
    assert "label" in poisoned[0][3]
    assert sum(row[1] == "processed" for row in fast["inbound"]) == len(mails) - 1


def test_a_stage_failing_in_memory_falls_back_with_its_stage_name(database_url, second_url,
                                                                  tmp_path, monkeypatch):
    plan_mails = planner.plan_mails

    def failing(cfg, ctx, *args, **kwargs):
        if "Gracias 1" in ctx.parsed.subject:
            raise ValueError("plantilla rota")
        return plan_mails(cfg, ctx, *args, **kwargs)

    monkeypatch.setattr(planner, "plan_mails", failing)
    mails = _mixed()
    fast, _ = _process(database_url, tmp_path, mails, monkeypatch, fast=True)
    slow, _ = _process(second_url, tmp_path, mails, monkeypatch, fast=False)
    assert fast == slow
    assert [(r[1], r[2], r[3]) for r in fast["inbound"] if r[1] != "processed"] == [
        ("quarantined", "outbound", "ValueError: plantilla rota")]


def test_a_subject_naming_a_ticket_opened_in_the_batch_is_written_one_by_one(
        database_url, second_url, tmp_path, monkeypatch):
    """The number is only known once the ticket is inserted: the fast path cannot decide
    before it, so it notices afterwards and the batch takes the per-message path. (On
    PostgreSQL the rolled-back inserts used their sequence values, so after the fallback
    ticket 2 is a higher number and the mail names no ticket of ours: a new one.)"""
    mails = _mixed()
    mails[3] = make_mail("Re: [SD-000002] Sin acceso", sender="luis@example.com")
    fast, did_fast = _process(database_url, tmp_path, mails, monkeypatch, fast=True)
    assert did_fast["one by one"] == len(mails)
    assert all(row[1] == "processed" for row in fast["inbound"])
    if ENGINE == "sqlite":
        slow, _ = _process(second_url, tmp_path, mails, monkeypatch, fast=False)
        assert fast == slow
        inbound_rows = {row[0]: row for row in fast["inbound"]}
        assert inbound_rows[4][4] == inbound_rows[2][4] and inbound_rows[4][5]


def test_retrying_a_written_batch_writes_nothing_twice(database_url, tmp_path):
    """Idempotent: rows put back to `fetched` after their batch committed (a retry) do not
    get a second ack, audit draw or prediction set."""
    env = _env(database_url, tmp_path)
    _store(env, _mixed())
    runner.process_pending(env)
    before = _snapshot(env)
    with env.engine.begin() as conn:
        conn.execute(inbound.update().values(state="fetched"))
    runner.process_pending(env)
    after = _snapshot(env)
    assert len(after["outbox"]) == len(before["outbox"])
    assert after["audit"] == before["audit"]
