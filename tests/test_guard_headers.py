"""guard.header_reason: which headers alone mark a mail as automatic (RFC 3834 and practice).

Each case starts from an ordinary user mail (tests/fixtures/desk/plain-request-es.eml),
changes one header, and checks the verdict, so a hit can only come from that header.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest

from pipeline.process.guard import header_reason
from pipeline.process.parse import parse_message

FIXTURES = Path(__file__).parent / "fixtures"
USER_MAIL = (FIXTURES / "desk" / "plain-request-es.eml").read_bytes()
SAMPLES = Path(str(files("pipeline.sample_mailbox"))) / "new"


def split_headers(raw: bytes) -> tuple[list[bytes], bytes]:
    """Logical header lines (continuations joined) and the body."""
    head, _, body = raw.partition(b"\n\n")
    lines: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] += b"\n" + line
        else:
            lines.append(line)
    return lines, body


def with_headers(raw: bytes, *headers: str, drop: tuple[str, ...] = ()) -> bytes:
    """The mail with `headers` set (replacing same-named ones) and `drop` removed."""
    lines, body = split_headers(raw.replace(b"\r\n", b"\n"))
    names = {h.split(":", 1)[0].strip().lower() for h in headers} | {d.lower() for d in drop}
    kept = [line for line in lines if line.split(b":", 1)[0].strip().lower().decode() not in names]
    new = [h.encode() for h in headers]
    return b"\n".join(new + kept) + b"\n\n" + body


def reason_for(raw: bytes) -> str | None:
    return header_reason(parse_message(raw))


def sample(subject: str) -> bytes:
    for path in sorted(SAMPLES.iterdir()):
        raw = path.read_bytes()
        if parse_message(raw).subject == subject:
            return raw
    raise LookupError(subject)


def test_ordinary_user_mail_is_answerable():
    assert reason_for(USER_MAIL) is None


AUTOMATIC = [
    "Auto-Submitted: auto-replied",
    "Auto-Submitted: auto-generated",
    "Auto-Submitted: auto-notified",
    "Auto-Submitted: auto-replied; owner-email=carmen.navarro@example.com",
    "AUTO-SUBMITTED: Auto-Replied",
    "Precedence: bulk",
    "Precedence: junk",
    "Precedence: list",
    "Precedence: auto_reply",
    "Precedence: BULK",
    "X-Auto-Response-Suppress: All",
    "X-Auto-Response-Suppress: OOF, AutoReply",
    "List-Id: Avisos de Sistemas <avisos-sistemas.lists.example.com>",
    "List-Unsubscribe: <mailto:avisos-sistemas-leave@lists.example.com>",
    "List-Unsubscribe: <https://lists.example.com/u?id=42>",
    "X-Autoreply: yes",
    "X-Autorespond: Estoy de vacaciones",
    "X-Failed-Recipients: j.ortega@example.net",
    "Return-Path: <>",
]


@pytest.mark.parametrize("header", AUTOMATIC)
def test_header_marks_mail_automatic(header):
    reason = reason_for(with_headers(USER_MAIL, header))
    assert reason is not None, header


ANSWERABLE = [
    "Auto-Submitted: no",
    "Auto-Submitted: No",
    "Precedence: normal",
    "Precedence: first-class",
    "Return-Path: <elena.vidal@example.com>",
    "X-Priority: 1",
    "Importance: high",
    "In-Reply-To: <AS8PR04MB7781E2A4C9B01D6F3E5A7C2B8D41@example.org>",
]


@pytest.mark.parametrize("header", ANSWERABLE)
def test_header_keeps_mail_answerable(header):
    assert reason_for(with_headers(USER_MAIL, header)) is None


@pytest.mark.parametrize("sender", [
    "From: MAILER-DAEMON@mx1.example.net (Mail Delivery System)",
    "From: Mail Delivery Subsystem <mailer-daemon@example.net>",
    "From: postmaster@example.net",
    "From: Postmaster <POSTMASTER@example.net>",
    "From: Example Notifications <no-reply@example.com>",
])
def test_daemon_senders_are_automatic(sender):
    reason = reason_for(with_headers(USER_MAIL, sender))
    assert reason is not None and "daemon" in reason.lower(), reason


@pytest.mark.parametrize("sender", [
    "From: Mateo Postigo <mateo.postigo@example.com>",
    "From: Noemi Replinger <noemi.replinger@example.com>",
])
def test_people_whose_names_look_like_daemons_are_answerable(sender):
    assert reason_for(with_headers(USER_MAIL, sender)) is None


def report_mail(report_type: str, second_part: str) -> bytes:
    body = (f"--r1\nContent-Type: text/plain; charset=us-ascii\n\nInforme automatico.\n\n"
            f"--r1\nContent-Type: {second_part}\n\nReporting-MTA: dns; mx.example.net\n\n"
            "--r1--\n")
    head = with_headers(USER_MAIL, "MIME-Version: 1.0",
                        f'Content-Type: multipart/report; report-type={report_type}; '
                        'boundary="r1"', drop=("Content-Transfer-Encoding",))
    return head.partition(b"\n\n")[0] + b"\n\n" + body.encode()


@pytest.mark.parametrize(("report_type", "part"), [
    ("delivery-status", "message/delivery-status"),
    ("disposition-notification", "message/disposition-notification"),
])
def test_multipart_report_is_automatic_on_its_own(report_type, part):
    raw = report_mail(report_type, part)
    assert parse_message(raw).from_addr == "elena.vidal@example.com"  # an ordinary sender
    assert reason_for(raw) is not None


def test_sample_out_of_office_is_an_auto_reply():
    raw = sample("Respuesta automática: Fuera de la oficina")
    reason = reason_for(raw)
    assert reason is not None and "auto-replied" in reason
    assert reason_for(with_headers(raw, drop=("Auto-Submitted",))) is not None  # X-Auto-Resp.


def test_sample_bounce_is_caught_by_each_of_its_signs():
    raw = sample("Undelivered Mail Returned to Sender")
    assert reason_for(raw) is not None
    signs = ("Auto-Submitted", "Return-Path", "From", "Content-Type")
    for kept in signs:  # remove every sign but one: that one alone must be enough
        stripped = with_headers(raw, drop=tuple(s for s in signs if s != kept))
        if kept != "From":
            stripped = with_headers(stripped, "From: Elena Vidal <elena.vidal@example.com>")
        assert reason_for(stripped) is not None, kept
    plain = with_headers(raw, "From: Elena Vidal <elena.vidal@example.com>", drop=signs)
    assert reason_for(plain) is None  # so each check above saw exactly one sign


def test_sample_newsletter_is_a_list_mail_by_each_of_its_signs():
    raw = sample("IT Security Bulletin - November 2026: Patch Tuesday and phishing trends")
    assert reason_for(raw) is not None
    signs = ("Precedence", "List-Id", "List-Unsubscribe")
    for kept in signs:
        assert reason_for(with_headers(raw, drop=tuple(s for s in signs if s != kept))), kept
    assert reason_for(with_headers(raw, drop=signs)) is None  # nothing else marks it


BOUNCES = ["cpython/msg_16.txt", "flanker/bounce/gmail-invalid-address.eml",
           "flanker/bounce/mailbox-full.eml", "flanker/bounce/office365.eml",
           "flanker/disposition-notification.eml"]


@pytest.mark.parametrize("name", BOUNCES)
def test_real_bounces_and_reports_are_automatic(name):
    assert reason_for((FIXTURES / "mime" / name).read_bytes()) is not None


@pytest.mark.parametrize(("name", "automatic"), [
    ("jira-notification.eml", True),
    ("postmaster-notice.eml", True),
    ("plain-request-es.eml", False),
    ("reply-gmail-en.eml", False),
    ("reply-outlook-es.eml", False),
    ("rfc2231-latin1.eml", False),
    ("unknown-charset.eml", False),
])
def test_desk_fixtures(name, automatic):
    reason = reason_for((FIXTURES / "desk" / name).read_bytes())
    assert (reason is not None) == automatic, reason


def test_guard_headers_are_read_decoded_and_on_one_line():
    raw = with_headers(USER_MAIL, "Auto-Submitted: =?utf-8?q?auto-replied?=",
                       "List-Id: Avisos\n de Sistemas <avisos.lists.example.com>")
    headers = parse_message(raw).guard_headers
    assert headers["auto-submitted"] == "auto-replied"
    assert not re.search(r"[\r\n]", headers["list-id"])
