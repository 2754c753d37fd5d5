"""The review queue, driven through the real CLI with keys on standard input."""

from __future__ import annotations

from sqlalchemy import select
from test_labels import cli, desk_with_mail

from pipeline.schema import audit_sample, inbound, predictions, review_log
from pipeline.schema import labels as labels_table
from pipeline.tracking import auditsample, labels, metrics, review

SUBJECTS = ("Red caída en la planta 2", "Pregunta sobre vacaciones", "La impresora no imprime",
            "Impresora rara, no sé qué pasa", "Gracias por todo")


def decisions(env):
    with env.engine.connect() as conn:
        return [(r.inbound_id, r.head, r.decision, r.label, r.author) for r in conn.execute(
            select(review_log).order_by(review_log.c.id))]


def review_labels(env):
    with env.engine.connect() as conn:
        return {(r.inbound_id, r.head): r.label for r in conn.execute(
            select(labels_table).where(labels_table.c.source == "review"))}


def lowest_confidence(env) -> list[tuple[float, int]]:
    """(lowest confidence, inbound id) of messages with a doubtful head, as the test sees it."""
    with env.engine.connect() as conn:
        rows = conn.execute(select(predictions.c.inbound_id, predictions.c.confidence,
                                   predictions.c.needs_review)).all()
    found: dict[int, list] = {}
    for row in rows:
        found.setdefault(row.inbound_id, []).append(row)
    return sorted((min(r.confidence for r in rs), i) for i, rs in found.items()
                  if any(r.needs_review for r in rs))


def test_low_confidence_first_then_the_audit_sample(tmp_path):
    env, _ = desk_with_mail(tmp_path, SUBJECTS, audit_fraction=1.0)
    items = review.pending(env.engine)
    low = [i for i in items if i.reason == review.LOW]
    assert [i.inbound_id for i in low] == [i for _, i in lowest_confidence(env)]
    assert items[:len(low)] == low
    audited = [i.inbound_id for i in items[len(low):]]
    with env.engine.connect() as conn:
        drawn = list(conn.execute(select(audit_sample.c.inbound_id).where(
            audit_sample.c.drawn).order_by(audit_sample.c.inbound_id)).scalars())
    assert audited == drawn and len(drawn) == len(SUBJECTS) - len(low)
    assert all([h.head for h in i.heads] == ["type", "priority", "queue"] for i in items)


def test_decisions_are_recorded_and_the_next_review_resumes(tmp_path):
    env, config = desk_with_mail(tmp_path, SUBJECTS, audit_fraction=0.0)
    first_id, second_id = (i for _, i in lowest_confidence(env))
    done = cli(config, "review", "--who", "ana", input="a\nc\nalta\ns\nq\n")
    assert done.exit_code == 0, done.output
    assert "accept=1 correct=1 skip=1" in done.output
    assert "valid: 1) critical  2) high  3) medium  4) low" in done.output
    with env.engine.connect() as conn:
        first_type = conn.execute(select(predictions.c.label).where(
            predictions.c.inbound_id == first_id, predictions.c.head == "type")).scalar_one()
    assert decisions(env) == [(first_id, "type", "accept", first_type, "ana"),
                              (first_id, "priority", "correct", "high", "ana"),
                              (first_id, "queue", "skip", None, "ana")]
    assert review_labels(env) == {(first_id, "type"): first_type, (first_id, "priority"): "high"}

    again = cli(config, "review", "--who", "bea", input="c\n9\nqueja\na\na\n")
    assert again.exit_code == 0, again.output
    with env.engine.connect() as conn:
        ref = conn.execute(select(inbound.c.subject).where(inbound.c.id == second_id)).scalar_one()
    assert f"Subject: {ref}" in again.output and "not a type label" in again.output
    assert [d[:3] for d in decisions(env)[3:]] == [(second_id, "type", "correct"),
                                                   (second_id, "priority", "accept"),
                                                   (second_id, "queue", "accept")]
    assert review_labels(env)[(second_id, "type")] == "complaint"
    assert "Nothing to review." in cli(config, "review").output
    skipped = cli(config, "review", "--include-skipped", input="a\n")
    assert "accept=1" in skipped.output and decisions(env)[-1][:3] == (first_id, "queue", "accept")


def test_audit_draw_is_deterministic_and_stored(tmp_path):
    env, _ = desk_with_mail(tmp_path, SUBJECTS, audit_fraction=0.5)
    with env.engine.connect() as conn:
        rows = conn.execute(select(audit_sample, inbound.c.dedupe_key).join(
            inbound, inbound.c.id == audit_sample.c.inbound_id)).all()
    assert len(rows) == len(SUBJECTS) - len(lowest_confidence(env))  # confident ones only
    for row in rows:
        assert row.draw == auditsample.draw(row.dedupe_key) and row.fraction == 0.5
        assert row.drawn == (row.draw < 0.5)
    assert 0 <= auditsample.draw("x") < 1 and auditsample.draw("x") != auditsample.draw("y")


def test_an_audited_message_corrected_by_mail_keeps_the_persons_label(tmp_path):
    env, config = desk_with_mail(tmp_path, SUBJECTS[:1], audit_fraction=1.0)
    with env.engine.begin() as conn:
        labels.record(conn, 1, "queue", "hardware", "email", "n1@example.org")
    (item,) = review.pending(env.engine)
    assert item.reason == review.AUDIT and [h.current for h in item.heads] == [None, None, "hardware"]
    done = cli(config, "review", "--who", "ana", input="a\na\na\n")
    assert "a person said 'Hardware'" in done.output
    assert decisions(env)[-1] == (1, "queue", "accept", "hardware", "ana")
    queue = metrics.collect(env.engine)["heads"]["queue"]["audit"]
    assert (queue["reviewed"], queue["misclassified"]) == (1, 1)  # network was predicted


def test_the_terminal_says_why_the_model_asked_for_a_person():
    prompts: list[str] = []
    console = review.Console(echo=prompts.append, key=lambda p: prompts.append(p) or "a",
                             ask=lambda p, **_: "")
    head = review.HeadItem("type", "incident", 0.41, True, why="unfamiliar")
    assert review._choose(console, head) == "a"
    assert "incident (41%; unlike the mail it learned from)" in prompts[0]
