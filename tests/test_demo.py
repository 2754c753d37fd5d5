"""The README's first command: `triaje demo` on the bundled sample mailbox, no server."""

from __future__ import annotations

import email
import re
import sqlite3
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "pipeline" / "sample_mailbox" / "new"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo") / "triaje-demo"
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--workdir", str(workdir)],
                          capture_output=True, text=True, timeout=900, check=False)
    return workdir, done


def test_demo_processes_every_sample_message(demo_run):
    workdir, done = demo_run
    assert done.returncode == 0, done.stderr[-3000:]
    samples = len([p for p in SAMPLE.iterdir() if p.is_file()])
    with sqlite3.connect(workdir / "triaje.db") as db:
        states = dict(db.execute("select state, count(*) from inbound group by state").fetchall())
        followups = db.execute("select count(*) from inbound where is_followup").fetchone()[0]
        predicted = db.execute("select count(distinct inbound_id) from predictions").fetchone()[0]
    assert states == {"processed": samples}
    assert followups >= 1
    assert predicted == samples
    assert "What triaje understood and did" in done.stdout
    assert "SD-000001" in done.stdout


def test_demo_writes_the_mails_it_would_send(demo_run):
    workdir, _done = demo_run
    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in (workdir / "outbox").glob("*.eml")]
    acks = [m for m in mails if m["Auto-Submitted"] == "auto-replied"]
    teams = [m for m in mails if m["Auto-Submitted"] == "auto-generated"]
    assert acks and teams
    answered = {str(m["To"]).lower() for m in acks}
    assert not any("mailer-daemon" in a or "newsletter" in a for a in answered)
    spanish = [m for m in acks if "Referencia de tu caso" in m.get_body(("plain",)).get_content()]
    english = [m for m in acks if "Your case reference" in m.get_body(("plain",)).get_content()]
    assert spanish and english


def test_second_demo_run_registers_nothing_new(demo_run):
    workdir, _done = demo_run
    again = subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--workdir", str(workdir)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "fetched 0" in again.stdout and "mails written this run: 0" in again.stdout


def test_second_run_says_so_and_fresh_starts_again(demo_run):
    workdir, _done = demo_run
    again = subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--workdir", str(workdir)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert "already held an earlier demo run" in again.stdout and "--fresh" in again.stdout
    fresh = subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--workdir",
                            str(workdir), "--fresh"], capture_output=True, text=True, timeout=300,
                           check=False)
    samples = len([p for p in SAMPLE.iterdir() if p.is_file()])
    assert fresh.returncode == 0 and f"fetched {samples}" in fresh.stdout
    names = sorted(p.name for p in (workdir / "outbox").glob("*.eml"))
    assert "SD-000001-ack.eml" in names and "SD-000001-route.eml" in names


def test_the_demo_answers_each_kind_of_mail_as_it_should(demo_run):
    workdir, _done = demo_run
    acks = {}
    for path in (workdir / "outbox").glob("*-ack.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        acks[str(msg["Subject"])] = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    thanks = next(text for subject, text in acks.items() if "Muchas gracias por la ayuda" in subject)
    assert "Muchas gracias" in thanks and "como muy tarde" not in thanks and "captura" not in thanks
    closed = next(text for subject, text in acks.items() if "cerrado la incidencia" in subject)
    assert "disculpas" in closed and "Marta Ruiz" in closed
    for text in acks.values():
        assert "_" not in text.split("\n\n")[1]  # no code such as service_request
        if text.startswith("Hola"):  # English words are codes in a Spanish mail
            assert not re.search(r"\b(incident|compliment|inquiry|complaint|request)\b", text)
        assert " 6:00" not in text and "domingo" not in text and "sábado" not in text
