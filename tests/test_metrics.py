"""Metrics: every figure equals a count made by hand here, from the same synthetic history."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import build_env

from pipeline.schema import audit_sample, inbound, predictions, tickets
from pipeline.tracking import auditsample, labels, metrics, review

TZ = "Europe/Madrid"
CLASSES = {"type": ["incident", "service_request", "inquiry", "complaint"],
           "priority": ["critical", "high", "medium", "low"],
           "queue": ["network", "hardware", "access"]}
START = datetime(2026, 10, 5, 9, 30, tzinfo=UTC)  # a Monday


def make_spec(seed: int = 7, n: int = 90) -> list[dict]:
    """A history: three weeks, two model versions, two mailboxes, labels on about half."""
    rng = random.Random(seed)
    spec = []
    for i in range(n):
        preds, truth = {}, {}
        for head, classes in CLASSES.items():
            label = rng.choice(classes)
            conf = round(rng.uniform(0.3, 0.99), 3)
            preds[head] = (label, conf, conf < 0.6)
            roll = rng.random()
            if roll < 0.3:
                truth[head] = (label, rng.choice(labels.SOURCES))
            elif roll < 0.5:
                truth[head] = (rng.choice([c for c in classes if c != label]),
                               rng.choice(labels.SOURCES))
        spec.append({"subject": f"Asunto {i}", "mailbox": "desk" if i % 3 else "rrhh",
                     "received_at": START + timedelta(hours=5 * i),
                     "version": "v1" if i < n // 2 else "v2", "preds": preds, "truth": truth,
                     "audited": False})
    return spec


def new_env(tmp_path, extra: dict | None = None, **tracking):
    cfg = {"database": {"url": f"sqlite:///{tmp_path / 'triaje.db'}"}, "mailboxes": [],
           "desk": {"timezone": TZ}, "classifier": {"models_dir": str(tmp_path / "models")},
           **(extra or {})}
    if tracking:
        cfg["tracking"] = tracking
    return build_env(cfg)


def store(env, spec: list[dict]) -> list[int]:
    """Write the history as the pipeline would have: ticket, message, predictions, labels."""
    rows: dict[str, list[dict]] = {"tickets": [], "inbound": [], "predictions": [], "audit": []}
    for n, item in enumerate(spec, 1):
        when, box, subject = item["received_at"], item["mailbox"], item["subject"]
        rows["tickets"].append(dict(id=n, ref=f"SD-{n:06d}", mailbox=box, subject=subject,
                                    requester="u@example.com", language="es", status="open",
                                    created_at=when, updated_at=when))
        rows["inbound"].append(dict(
            id=n, mailbox=box, folder="INBOX", dedupe_key=f"mid:<s{n}@example.com>",
            message_id=f"<s{n}@example.com>", raw=b"x", size=1, state="processed", attempts=1,
            received_at=when, processed_at=when, server_done=True, ticket_id=n, is_followup=False,
            automatic=False, sender="u@example.com", subject=subject, language="es",
            body_text="texto"))
        rows["predictions"] += [dict(inbound_id=n, head=head, label=label, confidence=conf,
                                     needs_review=unsure, model_version=item["version"],
                                     created_at=when)
                                for head, (label, conf, unsure) in item["preds"].items()]
        if item["audited"]:
            rows["audit"].append(dict(inbound_id=n, draw=0.0, fraction=1.0, drawn=True,
                                      created_at=when))
    with env.engine.begin() as conn:
        for table, key in ((tickets, "tickets"), (inbound, "inbound"), (predictions, "predictions"),
                           (audit_sample, "audit")):
            if rows[key]:
                conn.execute(table.insert(), rows[key])
        for n, item in enumerate(spec, 1):
            for head, (label, source) in item["truth"].items():
                labels.record(conn, n, head, label, source, "tester")
    return list(range(1, len(spec) + 1))


def wrong(item, head) -> bool:
    return head in item["truth"] and item["truth"][head][0] != item["preds"][head][0]


def week(moment: datetime) -> str:
    year, number, _ = moment.astimezone(ZoneInfo(TZ)).isocalendar()
    return f"{year}-W{number:02d}"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    env = new_env(tmp_path_factory.mktemp("metrics"))
    spec = make_spec()
    store(env, spec)
    return spec, metrics.collect(env.engine, TZ, None)


def test_counts_per_head_class_week_model_and_mailbox(history):
    spec, data = history
    assert data["messages"]["total"] == len(spec)
    auto = sum(not any(p[2] for p in item["preds"].values()) for item in spec)
    assert data["messages"]["auto_routed"] == auto
    for head in CLASSES:
        m = data["heads"][head]
        errors = sum(wrong(item, head) for item in spec)
        checked = sum(head in item["truth"] for item in spec)
        assert (m["predictions"], m["labelled"], m["misclassified"]) == (len(spec), checked, errors)
        assert m["rate"] == pytest.approx(errors / len(spec))
        assert m["rate_of_labelled"] == pytest.approx(errors / checked)
        for key, column, field in (("by_week", "week", lambda i: week(i["received_at"])),
                                   ("by_model", "version", lambda i: i["version"]),
                                   ("by_mailbox", "mailbox", lambda i: i["mailbox"])):
            expected = Counter(field(i) for i in spec if wrong(i, head))
            totals = Counter(field(i) for i in spec)
            got = {row[column]: (row["misclassified"], row["predictions"]) for row in m[key]}
            assert got == {k: (expected.get(k, 0), v) for k, v in totals.items()}
        for row in m["by_class"]:
            truth_c = [i for i in spec if i["truth"].get(head, (None,))[0] == row["label"]]
            assert row["labelled"] == len(truth_c)
            assert row["misclassified"] == sum(wrong(i, head) for i in truth_c)
            said = [i for i in spec if head in i["truth"] and i["preds"][head][0] == row["label"]]
            hits = sum(not wrong(i, head) for i in said)
            assert row["precision"] == (pytest.approx(hits / len(said)) if said else None)


def test_confusion_matrix_and_confused_pairs(history):
    spec, data = history
    for head in CLASSES:
        m = data["heads"][head]
        cells = Counter((i["truth"][head][0], i["preds"][head][0]) for i in spec if head in i["truth"])
        conf = m["confusion"]
        got = {(t, p): conf["matrix"][a][b] for a, t in enumerate(conf["labels"])
               for b, p in enumerate(conf["labels"]) if conf["matrix"][a][b]}
        assert got == dict(cells)
        pairs = Counter({k: v for k, v in cells.items() if k[0] != k[1]})
        top = m["confused_pairs"]
        assert [(p["truth"], p["predicted"], p["count"]) for p in top] == sorted(
            ((t, p, c) for (t, p), c in pairs.items()), key=lambda x: (-x[2], x[0], x[1]))[:10]
        first = top[0]
        examples = [i["subject"] for i in spec if head in i["truth"]
                    and (i["truth"][head][0], i["preds"][head][0]) == (first["truth"], first["predicted"])]
        assert first["examples"] == examples[:3]


def test_coverage_and_precision_at_the_threshold(history):
    spec, data = history
    for head in CLASSES:
        auto = [i for i in spec if not i["preds"][head][2]]
        checked = [i for i in auto if head in i["truth"]]
        point = data["heads"][head]["threshold"]
        assert point["coverage"] == pytest.approx(len(auto) / len(spec))
        assert point["precision"] == pytest.approx(
            sum(not wrong(i, head) for i in checked) / len(checked))
        at_half = next(p for p in data["heads"][head]["curve"] if p["threshold"] == 0.5)
        assert at_half["coverage"] == pytest.approx(
            sum(i["preds"][head][1] >= 0.5 for i in spec) / len(spec))


def test_corrections_by_source(history):
    spec, data = history
    sources = Counter(src for i in spec for _, src in i["truth"].values())
    assert data["corrections"]["by_source"] == {s: sources.get(s, 0) for s in labels.SOURCES}


def test_wilson_bounds_solve_the_score_equation():
    for errors, n in ((0, 10), (3, 40), (25, 50), (40, 40), (7, 1000)):
        interval = auditsample.wilson(errors, n)
        p = errors / n
        for bound in (interval.low, interval.high):
            if 0 < bound < 1:  # (p - b)^2 = z^2 b (1 - b) / n
                assert (p - bound) ** 2 == pytest.approx(auditsample.Z95**2 * bound * (1 - bound) / n)
        assert interval.low <= p <= interval.high
    assert auditsample.wilson(0, 0).rate is None


def test_audit_estimate_covers_a_known_error_rate(tmp_path):
    """1,200 confident predictions, 12 % of them wrong; 10 % drawn by the hash; the reviewer
    fixes the drawn ones. The estimate is k/n of the sample and its interval holds 12 %."""
    env = new_env(tmp_path, audit_fraction=0.1)
    rng, true_rate, n = random.Random(11), 0.12, 1200
    bad = set(rng.sample(range(n), int(true_rate * n)))
    spec = []
    for i in range(n):
        label = CLASSES["type"][i % 4]
        truth = CLASSES["type"][(i + 1) % 4] if i in bad else label
        spec.append({"subject": f"s{i}", "mailbox": "desk", "version": "v1", "truth": {},
                     "received_at": START + timedelta(minutes=i), "audited": False,
                     "preds": {"type": (label, 0.95, False)}, "real": truth})
    ids = store(env, spec)
    with env.engine.begin() as conn:
        drawn = [auditsample.register(conn, mid, f"mid:<s{k + 1}@example.com>", 0.1)
                 for k, mid in enumerate(ids)]
    for k, mid in enumerate(ids):
        if drawn[k]:
            real = spec[k]["real"]
            same = real == spec[k]["preds"]["type"][0]
            review.decide(env.engine, mid, "type", "accept" if same else "correct", "auditor",
                          None if same else real)
    est = metrics.collect(env.engine, TZ)["heads"]["type"]["audit"]
    sample = [k for k in range(n) if drawn[k]]
    k_wrong = sum(k in bad for k in sample)
    assert est["sampled"] == est["reviewed"] == len(sample)
    assert abs(len(sample) - 0.1 * n) < 4 * math.sqrt(n * 0.1 * 0.9)
    assert est["misclassified"] == k_wrong and est["rate"] == pytest.approx(k_wrong / len(sample))
    assert est["ci_low"] <= true_rate <= est["ci_high"]
    assert est["seen_in_corrections"] == pytest.approx(k_wrong / n)  # only what was reviewed
