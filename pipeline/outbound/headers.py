"""Outgoing messages as bytes: headers that user text cannot break, and a MIME layout.

User text reaches exactly one header, the Subject, and only after `clean_subject`: control
characters and line breaks become spaces, encoded words (`=?utf-8?b?...?=`) are decoded
first and any left over are defused, and the length is capped. As a last guard the
serialised bytes are parsed again and must hold exactly the headers that were set.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.generator import Generator
from email.header import decode_header, make_header
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage, MIMEPart
from email.parser import BytesHeaderParser
from email.utils import format_datetime

from pipeline.errors import StageError

SUBJECT_LIMIT = 200
ORIGINAL_LIMIT = 10_000_000  # bytes; Postfix's default message_size_limit is 10,240,000
MAX_LINE = 998
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_NEWLINES = re.compile(rb"\r\n|\r|\n")
_TOKEN = b"TRIAJE-ORIGINAL-MESSAGE-" + uuid.uuid4().hex.encode("ascii")


class _CachedHeaderRegistry(HeaderRegistry):
    """The stdlib registry builds a new header class on every lookup (measured: a third
    of the time spent composing a mail); the classes are immutable, so reuse them."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found


SMTP_POLICY = policy.SMTP.clone(header_factory=_CachedHeaderRegistry())
# Serialising: headers folded only past RFC 5322's 998 characters. At 78 the stdlib folds
# a long ASCII subject right after "Subject:", and its own parser then reads the subject
# back with a leading space; every header we write is far shorter than 998.
WIRE_POLICY = SMTP_POLICY.clone(max_line_length=998)


@dataclass(frozen=True)
class Head:
    from_name: str
    from_address: str
    reply_to: str
    to: tuple[str, ...]
    subject: str
    message_id: str
    date: datetime
    auto_submitted: str  # "auto-replied" (acks) or "auto-generated" (team mails)
    ticket_ref: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


def clean_subject(text: str, limit: int = SUBJECT_LIMIT) -> str:
    """One safe line of at most `limit` characters from whatever the sender wrote."""
    text = text[: limit * 8]
    for _ in range(3):  # encoded words may hide encoded words
        decoded = _decode_words(text)
        if decoded == text:
            break
        text = decoded
    text = " ".join(_CONTROL.sub(" ", text).replace("=?", "= ?").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _decode_words(text: str) -> str:
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, ValueError, UnicodeError):
        return text


def assemble(head: Head, text: str, html: str, original: bytes | None = None) -> bytes:
    """multipart/alternative (text + HTML), inside multipart/mixed when the original rides along."""
    msg = EmailMessage(policy=SMTP_POLICY)
    _set_headers(msg, head)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    if original is not None:
        msg.make_mixed()
        part, verbatim = original_part(original)
        msg.attach(part)
    _fixed_boundaries(msg, head.message_id)
    return _serialise(msg, verbatim if original is not None else None)


def _fixed_boundaries(msg: EmailMessage, message_id: str) -> None:
    """Boundaries derived from the Message-ID: rendering the same mail twice (a resend
    rendered again) gives the same bytes. The text parts are quoted-printable, where "=_"
    cannot occur, so no body line can look like one of these boundaries."""
    digest = hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:32]
    for depth, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_triaje_{depth}_{digest}")


def _serialise(msg: EmailMessage, verbatim: bytes | None) -> bytes:
    """Bytes of `msg`, with the original message spliced in unchanged where its token stands.

    The stdlib generator would re-encode (or refuse) an 8-bit message/rfc822 body, so the
    part carries a placeholder that is replaced after serialisation.
    """
    raw = msg.as_bytes(policy=WIRE_POLICY)
    _check_headers(raw, list(msg.keys()))
    if verbatim is None:
        return raw
    boundary = (msg.get_boundary() or "").encode("ascii")
    if boundary and b"--" + boundary in verbatim:
        msg.set_boundary(Generator._make_boundary(verbatim.decode("latin-1")))
        raw = msg.as_bytes(policy=WIRE_POLICY)
    if raw.count(_TOKEN) != 1:
        raise StageError("compose", "the original message could not be attached")
    return raw.replace(_TOKEN, verbatim)


def _set_headers(msg: EmailMessage, head: Head) -> None:
    msg["From"] = Address(head.from_name, addr_spec=head.from_address)
    msg["To"] = ", ".join(head.to)
    msg["Reply-To"] = Address(head.from_name, addr_spec=head.reply_to)
    msg["Subject"] = clean_subject(head.subject, SUBJECT_LIMIT + 40)
    msg["Date"] = format_datetime(head.date)
    msg["Message-ID"] = head.message_id
    if head.in_reply_to:
        msg["In-Reply-To"] = head.in_reply_to
    if head.references:
        msg["References"] = " ".join(head.references)
    msg["Auto-Submitted"] = head.auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Triaje-Ticket"] = clean_subject(head.ticket_ref, 60)


def original_part(raw: bytes) -> tuple[MIMEPart, bytes | None]:
    """The user's message as message/rfc822 (7bit or 8bit, as RFC 2046 wants) and its bytes.

    A message with lines longer than SMTP allows cannot travel unencoded; it goes as a
    base64 `original.eml` attachment instead of being silently rewrapped. One larger than
    ORIGINAL_LIMIT would get the team mail refused for its size (552), so only its header
    block rides along; the whole message stays in the database.
    """
    part = MIMEPart(policy=SMTP_POLICY)
    if len(raw) > ORIGINAL_LIMIT:
        end = re.search(rb"\r?\n\r?\n", raw)
        head = raw[:min(end.start() if end else len(raw), ORIGINAL_LIMIT // 10)]
        note = (f"[triaje] The original message is {len(raw):,} bytes, too large to attach; "
                "it is kept in the desk's database. Its header block:\n\n").encode()
        part.set_content(note + head, maintype="text", subtype="plain",
                         disposition="attachment", filename="original-headers.txt")
        return part, None
    data = _NEWLINES.sub(b"\r\n", raw)
    if any(len(line) > MAX_LINE for line in data.split(b"\r\n")):
        part.set_content(raw, maintype="application", subtype="octet-stream",
                         disposition="attachment", filename="original.eml")
        return part, None
    part["Content-Type"] = "message/rfc822"
    part["Content-Disposition"] = 'attachment; filename="original.eml"'
    part["Content-Transfer-Encoding"] = "8bit" if max(data, default=0) > 127 else "7bit"
    part.set_payload(_TOKEN.decode("ascii"))
    return part, data


def _check_headers(raw: bytes, expected: list[str]) -> None:
    head = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    found = BytesHeaderParser(policy=policy.compat32).parsebytes(head).keys()
    if [k.lower() for k in found] != [k.lower() for k in expected]:
        raise StageError("compose", f"refusing a message whose headers changed: {found}")
