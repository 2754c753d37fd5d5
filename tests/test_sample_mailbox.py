"""The bundled demo Maildir (pipeline/sample_mailbox): realistic, complete, and processable.

`triaje demo` runs the whole pipeline on it, so it must look like a real desk mailbox:
Spanish and English mail, the awkward kinds (HTML-only, attachments, forwards, replies,
a follow-up, an auto-reply, a bounce, a list mail), and only fictional addresses.
"""

from __future__ import annotations

import email
import mailbox
import re
from collections import Counter
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from functools import cache
from importlib.resources import files
from pathlib import Path

import pytest
from helpers import build_env, inbound_rows

from pipeline.ingest import poller
from pipeline.process.guard import header_reason
from pipeline.process.parse import ParsedMessage, parse_message

BOX = Path(str(files("pipeline.sample_mailbox")))
NAME = re.compile(r"^\d{10}\.M\d+P\d+\.sample$")
ADDRESS = re.compile(rb"[\w.+-]+@([\w-]+\.)+[a-zA-Z]{2,}")
FICTIONAL = re.compile(rb"@([\w-]+\.)*example\.(com|org|net)$")


@cache
def mails() -> list[tuple[Path, bytes, Message, ParsedMessage]]:
    found = []
    for path in sorted((BOX / "new").iterdir()):
        raw = path.read_bytes()
        found.append((path, raw, email.message_from_bytes(raw), parse_message(raw)))
    return found


def ordinary() -> list[ParsedMessage]:
    return [parsed for *_, parsed in mails() if header_reason(parsed) is None]


def test_maildir_layout():
    assert (BOX / "__init__.py").is_file()
    assert (BOX / "cur" / ".keep").is_file() and (BOX / "tmp" / ".keep").is_file()
    names = [path.name for path, *_ in mails()]
    assert len(names) >= 30
    assert all(NAME.match(name) and ":" not in name for name in names), names


def test_stdlib_maildir_reads_every_sample():
    box = mailbox.Maildir(BOX, factory=None, create=False)
    keys = {key for key in box.iterkeys() if not key.startswith(".")}
    assert keys == {path.name for path, *_ in mails()}


def test_every_sample_has_the_headers_real_clients_write():
    for path, _, msg, parsed in mails():
        for name in ("From", "To", "Date", "Subject", "Message-ID", "MIME-Version",
                     "Content-Type"):
            assert msg[name], (path.name, name)
        assert "desk@example.org" in parsed.to, path.name
        assert parsed.message_id and parsed.message_id.endswith("@example.com>"), path.name
        assert parsed.subject and parsed.from_addr, path.name
        for part in msg.walk():  # every text body declares its charset
            if part.get("Content-Type") and part.get_content_type() in ("text/plain", "text/html"):
                assert part.get_param("charset"), (path.name, part.get_content_type())


def test_every_sample_parses_with_text():
    for path, _, _, parsed in mails():
        assert parsed.text.strip() and not parsed.notes, path.name


def test_line_endings_are_consistent_per_file():
    styles = Counter()
    for path, raw, *_ in mails():
        crlf, lf = raw.count(b"\r\n"), raw.count(b"\n")
        assert crlf in (0, lf), path.name
        styles["crlf" if crlf else "lf"] += 1
    assert styles["crlf"] and styles["lf"]


def test_message_ids_are_unique():
    ids = [parsed.message_id for *_, parsed in mails()]
    assert len(ids) == len(set(ids))


def test_dates_spread_over_november_2026_and_match_file_names():
    days = set()
    for path, _, msg, _ in mails():
        sent = parsedate_to_datetime(msg["Date"])
        assert (sent.year, sent.month) == (2026, 11), path.name
        assert path.name.split(".")[0] == str(int(sent.timestamp())), path.name
        days.add(sent.day)
    assert len(days) >= 15 and min(days) <= 3 and max(days) >= 28


def test_only_fictional_addresses():
    for path, raw, msg, _ in mails():
        for match in ADDRESS.finditer(raw):
            assert FICTIONAL.search(match.group()), (path.name, match.group())
        for name in ("From", "To", "Cc", "Reply-To"):
            for _, addr in getaddresses(msg.get_all(name, [])):
                assert FICTIONAL.search(addr.encode()), (path.name, addr)


def test_spanish_and_english_roughly_half_each():
    languages = Counter(parsed.language for parsed in ordinary())
    total = sum(languages.values())
    assert set(languages) == {"es", "en"}
    assert 0.35 <= languages["es"] / total <= 0.65, languages


def test_spanish_from_spain_and_latin_america():
    domains = {parsed.from_addr.split("@")[1] for parsed in ordinary() if parsed.language == "es"}
    assert "example.com" in domains  # Spain
    assert len(domains - {"example.com"}) >= 4  # mx, ar, co, cl, pe subsidiaries


def test_exactly_the_automatic_kinds_are_flagged():
    flagged = {parsed.subject: parsed for *_, parsed in mails() if header_reason(parsed)}
    assert len(flagged) == 3, sorted(flagged)
    kinds = {
        "bounce": [p for p in flagged.values() if p.content_type == "multipart/report"],
        "list": [p for p in flagged.values() if "list-id" in p.guard_headers],
        "auto-reply": [p for p in flagged.values()
                       if p.guard_headers.get("auto-submitted") == "auto-replied"
                       and p.content_type != "multipart/report"],
    }
    assert {kind: len(found) for kind, found in kinds.items()} == dict.fromkeys(kinds, 1)
    assert kinds["bounce"][0].from_addr.startswith("mailer-daemon@")
    assert kinds["bounce"][0].guard_headers["return-path"] == "<>"
    assert kinds["list"][0].guard_headers["precedence"] == "list"
    assert "list-unsubscribe" in kinds["list"][0].guard_headers
    assert kinds["auto-reply"][0].subject == "Respuesta automática: Fuera de la oficina"


def count(predicate) -> int:
    return sum(1 for path, raw, msg, parsed in mails() if predicate(raw, msg, parsed))


@pytest.mark.parametrize(("kind", "predicate"), [
    ("html-only with a table or list", lambda raw, msg, p: p.html_only
     and (b"<table" in raw or b"<li" in raw)),
    ("multipart/alternative", lambda raw, msg, p: p.content_type == "multipart/alternative"),
    ("pdf or png attachment", lambda raw, msg, p: any(
        a.content_type in ("application/pdf", "image/png") for a in p.attachments)),
    ("iso-8859-1 with an RFC 2047 subject", lambda raw, msg, p: msg["Subject"].startswith(
        "=?iso-8859-1?Q?") and msg.get_content_charset() == "iso-8859-1"),
    ("forwarded message/rfc822", lambda raw, msg, p: p.forwarded
     and any(part.get_content_type() == "message/rfc822" for part in msg.walk())),
    ("Spanish reply with history", lambda raw, msg, p: "escribió:" in p.text
     and p.subject.startswith("Re:") and p.language == "es"),
    ("English Outlook reply", lambda raw, msg, p: "\nFrom: " in p.text and "\nSent: " in p.text
     and p.subject.startswith("RE:")),
    ("English 'wrote:' reply", lambda raw, msg, p: "wrote:" in p.text and p.language == "en"),
    ("month-end ERP incident marked urgent", lambda raw, msg, p: "URGENTE" in p.subject
     and ("SAP" in p.text or "ERP" in p.text)),
    ("complaint about a closed ticket", lambda raw, msg, p: re.search(r"SD-\d{6}", p.subject)),
    ("thanks", lambda raw, msg, p: re.search(r"(?i)thank|gracias", p.subject)),
])
def test_kind_is_present(kind, predicate):
    assert count(predicate) >= 1, kind


def test_follow_up_by_the_same_sender_names_its_original():
    by_id = {parsed.message_id: parsed for *_, parsed in mails()}
    followups = [(parsed, by_id[parsed.in_reply_to[0]]) for *_, parsed in mails()
                 if parsed.in_reply_to and parsed.in_reply_to[0] in by_id]
    assert followups
    for reply, original in followups:
        assert reply.from_addr == original.from_addr
        assert reply.subject == f"Re: {original.subject}"
        assert original.message_id in reply.references
        assert reply.date > original.date


def demo_config(tmp_path: Path) -> dict:
    return {"database": {"url": f"sqlite:///{tmp_path / 'demo.db'}"},
            "mailboxes": [{"name": "sample", "url": f"maildir://{BOX}", "start": "all"}],
            "desk": {"addresses": ["desk@example.org"]},
            "classifier": {"models_dir": str(tmp_path / "models")}}


def test_pipeline_processes_the_sample_mailbox(tmp_path):
    env = build_env(demo_config(tmp_path))
    summary, failed = poller.poll_once(env)
    assert failed == [] and summary.quarantined == 0
    rows = {row["source_key"]: row for row in inbound_rows(env)}
    by_id = {row["message_id"]: row for row in rows.values() if row["message_id"]}
    samples = [rows[path.name] for path, *_ in mails()]
    assert sum(bool(row["is_followup"]) for row in samples) >= 2
    assert sum(bool(row["automatic"]) for row in samples) == 3
    for path, _, _, parsed in mails():
        row = rows[path.name]
        assert row["state"] == "processed", path.name
        assert bool(row["automatic"]) == (header_reason(parsed) is not None), path.name
        linked = [by_id[m] for m in parsed.in_reply_to + parsed.references if m in by_id]
        assert bool(row["is_followup"]) == bool(linked), path.name
        assert all(row["ticket_id"] == other["ticket_id"] for other in linked), path.name


def test_pipeline_registers_only_the_sample_messages(tmp_path):
    env = build_env(demo_config(tmp_path))
    poller.poll_once(env)
    assert sorted(row["source_key"] for row in inbound_rows(env)) == [
        path.name for path, *_ in mails()]
