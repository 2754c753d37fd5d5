"""Benchmark: the web desk's pages and the daemon's /metrics on a desk with 100,000 tickets.

Fills a fresh database (SQLite by default; `--database-url` for PostgreSQL) with N tickets,
each with its message, three predictions (about a fifth unsure), a 5 % audit draw, human
labels on 6 % (a third of them corrections), an acknowledgement in the outbox; twelve weeks,
two mailboxes, two model versions. Serves the desk with uvicorn and the daemon's monitor
on loopback and times real HTTP requests:

- baseline: /account, a logged-in page that reads nothing but the session (the floor);
- review queue (GET /review) while a reviewer accepts case after case;
- report (GET /report) unfiltered and filtered by week, mailbox and model, warm; and
  right after a decision changed the data (a thread reads it again; the page waits 0.15 s
  at most, then shows the previous figures marked stale); and how long until it is fresh;
- /metrics, while its figures are refreshed in the background.

Prints p50 and p95 per page and p95 against the baseline's. Targets: review p95 < 100 ms,
report p95 < 300 ms, /metrics p95 < 50 ms.

    python bench/web/run.py [--tickets 100000] [--requests 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from dovecot import free_port  # noqa: E402

from pipeline import config as configmod  # noqa: E402
from pipeline.db import open_database  # noqa: E402
from pipeline.monitor.server import MonitorServer  # noqa: E402
from pipeline.schema import audit_sample, inbound, labels, outbox, predictions, review_log, tickets  # noqa: E402
from pipeline.web import users  # noqa: E402
from pipeline.web.app import create_app  # noqa: E402

HEADS = {"type": ["incident", "service_request", "inquiry", "complaint", "compliment"],
         "priority": ["critical", "high", "medium", "low"],
         "queue": ["network", "hardware", "applications", "access", "procurement", "service_desk"]}
CHUNK = 5000


def message(i: int, subject: str, sender: str) -> bytes:
    return (f"From: {sender}\r\nTo: desk@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <b{i}@bench.example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Mensaje de prueba número {i}.\r\n").encode()


def rows_for(i: int, rng: random.Random, start: datetime) -> dict[str, list[dict]]:
    when = start + timedelta(seconds=rng.randrange(84 * 86400))
    mailbox, sender = rng.choice(("desk", "soporte")), f"user{rng.randrange(5000)}@example.com"
    subject = f"Caso de prueba {i}: {rng.choice(('no imprime', 'VPN caída', 'acceso', 'pedido'))}"
    raw = message(i, subject, sender)
    out: dict[str, list[dict]] = {k: [] for k in ("tickets", "inbound", "predictions", "audit",
                                                  "labels", "review", "outbox")}
    out["tickets"].append({"id": i, "ref": f"SD-{i:06d}", "mailbox": mailbox, "subject": subject,
                           "requester": sender, "language": "es", "status": "open",
                           "created_at": when, "updated_at": when})
    out["inbound"].append({"id": i, "mailbox": mailbox, "folder": "INBOX", "uid": i,
                           "dedupe_key": f"b{i}", "message_id": f"<b{i}@bench.example.com>",
                           "raw": raw, "size": len(raw), "state": "processed", "attempts": 0,
                           "received_at": when, "processed_at": when, "server_done": True,
                           "ticket_id": i, "is_followup": False, "automatic": False,
                           "sender": sender, "subject": subject, "language": "es",
                           "body_text": f"Mensaje de prueba número {i}."})
    version = "20261001T000000Z-aaaaaa" if when < start + timedelta(days=42) else "20261112T000000Z-bbbbbb"
    unsure = rng.random() < 0.2
    for head, choices in HEADS.items():
        confidence = rng.uniform(0.2, 0.6) if unsure and head != "type" else rng.uniform(0.8, 0.999)
        label = rng.choice(choices)
        out["predictions"].append({"inbound_id": i, "head": head, "label": label,
                                   "confidence": confidence, "needs_review": confidence < 0.7,
                                   "model_version": version, "created_at": when})
        if rng.random() < 0.06:
            truth = label if rng.random() < 0.67 else rng.choice(choices)
            out["labels"].append({"inbound_id": i, "head": head, "label": truth, "source": "review",
                                  "author": "bench", "created_at": when})
            out["review"].append({"inbound_id": i, "head": head, "author": "bench", "created_at": when,
                                  "decision": "accept" if truth == label else "correct", "label": truth})
    if not unsure:
        draw = rng.random()
        out["audit"].append({"inbound_id": i, "draw": draw, "fraction": 0.05, "drawn": draw < 0.05,
                             "created_at": when})
    out["outbox"].append({"inbound_id": i, "ticket_id": i, "kind": "ack", "recipients": sender,
                          "message_id": f"<ack{i}@example.org>", "raw": b"x", "state": "sent",
                          "attempts": 1, "next_attempt_at": when, "created_at": when, "sent_at": when})
    return out


def fill(engine, n: int) -> float:
    rng, start = random.Random(14), datetime.now(UTC) - timedelta(days=84)
    tables = {"tickets": tickets, "inbound": inbound, "predictions": predictions, "audit": audit_sample,
              "labels": labels, "review": review_log, "outbox": outbox}
    began = time.perf_counter()
    for first in range(1, n + 1, CHUNK):
        batch: dict[str, list[dict]] = {k: [] for k in tables}
        for i in range(first, min(first + CHUNK, n + 1)):
            for key, rows in rows_for(i, rng, start).items():
                batch[key].extend(rows)
        with engine.begin() as conn:
            for key, table in tables.items():
                if batch[key]:
                    conn.execute(insert(table), batch[key])
    return time.perf_counter() - began


class Served:
    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def timed(call) -> float:
    began = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - began) * 1000
    if response.status_code not in (200, 303):
        raise SystemExit(f"{response.request.url}: HTTP {response.status_code}")
    return elapsed


def figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1)}


def csrf(client: httpx.Client, path: str) -> str:
    text = client.get(path).text
    return text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def login(client: httpx.Client) -> None:
    token = client.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"username": "bench", "password": "bench-password-1",
                                "csrf_token": token})


def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="triaje-bench-web-"))
    url = args.database_url or f"sqlite:///{work / 'triaje.db'}"
    config = configmod.from_dict({"database": {"url": url}, "classifier": {"models_dir": str(work / "m")},
                                  "metrics": {"listen": f"127.0.0.1:{free_port()}"}}, "bench")
    engine = open_database(url)
    fill_s = fill(engine, args.tickets)
    users.add(engine, "bench", "admin", "bench-password-1")
    result: dict = {"tickets": args.tickets, "database": url.split(":", 1)[0], "fill_s": round(fill_s, 1)}
    monitor = MonitorServer(engine, config).start()
    say(f"filled {args.tickets} tickets in {fill_s:.0f} s")
    with Served(create_app(config, engine)) as base, httpx.Client(base_url=base, timeout=600) as client:
        login(client)
        n = args.requests
        result["baseline_account"] = figures([timed(lambda: client.get("/account")) for _ in range(n)])
        review: list[float] = []
        for _ in range(n):
            review.append(timed(lambda: client.get("/review")))
            page = client.get("/review").text
            case = page.split('action="/review/', 1)[1].split('"', 1)[0]
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            client.post(f"/review/{case}", data={"csrf_token": token, "action": "accept"})
        result["review_queue"] = figures(review)
        say("review done")
        first = timed(lambda: client.get("/report"))
        result["report_first_load_ms"] = round(first, 1)
        weeks = sorted({w for w in client.get("/report").text.split('name="week"', 1)[1]
                        .split("</select>", 1)[0].split('value="')[2:] for w in [w.split('"', 1)[0]]})
        filters = [{}, {"mailbox": "desk"}, {"model": "20261112T000000Z-bbbbbb"},
                   *({"week": w} for w in weeks[:4])]
        warm = [timed(lambda f=f: client.get("/report", params=f)) for _ in range(n // len(filters) + 1)
                for f in filters]
        result["report_warm"] = figures(warm)
        say("report warm done")
        changed = []
        for _ in range(max(5, n // 20)):
            page = client.get("/review").text
            case = page.split('action="/review/', 1)[1].split('"', 1)[0]
            client.post(f"/review/{case}", data={"csrf_token": csrf(client, "/review"), "action": "accept"})
            changed.append(timed(lambda: client.get("/report")))
        result["report_after_a_change"] = figures(changed)
        fresh_began = time.perf_counter()
        while "notice stale" in client.get("/report").text:
            time.sleep(0.1)
        result["report_fresh_after_s"] = round(time.perf_counter() - fresh_began, 1)
        mon = httpx.Client(base_url=f"http://127.0.0.1:{monitor.port}")
        refresh_began = time.perf_counter()
        monitor.collector.refresh()
        result["metrics_refresh_ms"] = round((time.perf_counter() - refresh_began) * 1000, 1)
        result["metrics"] = figures([timed(lambda: mon.get("/metrics")) for _ in range(n)])
        result["healthz"] = figures([timed(lambda: mon.get("/healthz")) for _ in range(n)])
    monitor.stop()
    base_p95 = result["baseline_account"]["p95_ms"]
    for key in ("review_queue", "report_warm", "report_after_a_change", "metrics", "healthz"):
        result[key]["p95_vs_baseline"] = round(result[key]["p95_ms"] / base_p95, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    result = run(parser.parse_args())
    print(json.dumps(result, indent=2))
    targets = {"review_queue": 100, "report_warm": 300, "report_after_a_change": 300, "metrics": 50}
    for key, limit in targets.items():
        p95 = result[key]["p95_ms"]
        print(f"{key:<24} p95 {p95:8.1f} ms  target < {limit} ms  {'ok' if p95 < limit else 'MISSED'}")


if __name__ == "__main__":
    main()
