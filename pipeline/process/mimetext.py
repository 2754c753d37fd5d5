"""Readable text out of a MIME tree: the body, forwarded messages, and an attachment list.

The stdlib parser does the MIME work; this module only chooses parts and decodes them
forgivingly: a wrong or unknown charset falls back instead of failing, HTML-only mail goes
through inscriptis, and attachments are listed by name, type and size, never loaded as text.
"""

from __future__ import annotations

import base64
import binascii
import email
import quopri
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import Message

from inscriptis import get_text

from pipeline.process.headertext import decode_bytes, decode_words, header_text, raw_headers, repair_8bit

MAX_DEPTH = 50  # deeper MIME nesting than this is hostile, not mail


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Extracted:
    text: str
    html_only: bool
    attachments: tuple[Attachment, ...]
    forwarded: int
    too_deep: bool


def part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    text = decode_bytes(payload, part.get_content_charset()).replace("\x00", "").replace("\r\n", "\n")
    if part.get_content_type() == "text/html":
        return html_to_text(text)
    return text


def html_to_text(html: str) -> str:
    try:
        return get_text(html).strip()
    except Exception:  # inscriptis chokes on some broken markup; keep the words anyway
        return " ".join(html.split())


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    return disposition == "attachment" or (
        bool(_filename(part)) and part.get_content_maintype() != "text")


def _filename(part: Message) -> str:
    """RFC 2231 names come decoded from get_filename; RFC 2047 ones (Outlook) too."""
    try:
        name = str(part.get_filename() or "")
        if "\ufffd" in name:  # raw 8-bit parameter: read it again from the repaired header
            name = str(_repaired(part).get_filename() or name)
        return " ".join(decode_words(name).replace("\x00", "").split())  # one line, no NULs
    except Exception:  # a parameter no parser can read: list the part without a name
        return ""


def _repaired(part: Message) -> Message:
    probe = Message()
    for header in ("Content-Disposition", "Content-Type"):
        for value in raw_headers(part, header):
            probe[header] = repair_8bit(value)
    return probe


def _encoded_size(part: Message) -> int:
    payload = part.get_payload()
    raw_len = len(payload) if isinstance(payload, str | bytes) else 0
    if str(part.get("Content-Transfer-Encoding") or "").strip().lower() == "base64":
        return raw_len * 3 // 4
    return raw_len


def _attachment(part: Message) -> Attachment:
    return Attachment(_filename(part), part.get_content_type(), _encoded_size(part))


def _leaves(msg: Message, depth: int = 0) -> Iterator[tuple[Message, int]]:
    """Every non-multipart part with its depth; message/rfc822 parts are yielded, not entered."""
    stack: list[tuple[Message, int]] = [(msg, depth)]
    while stack:
        part, level = stack.pop()
        if part.is_multipart() and part.get_content_type() != "message/rfc822":
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend((child, level + 1) for child in reversed(children))
            continue
        yield part, level


def extract(msg: Message, depth: int = 0) -> Extracted:
    plain: list[str] = []
    html: list[Message] = []  # converted only when no plain text says it (inscriptis is slow)
    forwarded: list[str] = []
    attachments: list[Attachment] = []
    too_deep = False
    for part, level in _leaves(msg, depth):
        if level >= MAX_DEPTH:
            too_deep = True
            continue
        kind = part.get_content_type()
        if kind == "message/rfc822":
            sub = _forwarded(part, level)
            if sub is not None:
                forwarded.append(sub.text)
                attachments.extend(sub.attachments)
                too_deep = too_deep or sub.too_deep
        elif _is_attachment(part):
            attachments.append(_attachment(part))
        elif kind == "text/plain":
            plain.append(part_text(part))
        elif kind == "text/html":
            html.append(part)
        elif part.get_content_maintype() != "multipart":
            attachments.append(_attachment(part))
    body = "\n\n".join(t for t in plain if t.strip()) or "\n\n".join(part_text(p) for p in html)
    text = "\n\n".join([body.strip(), *forwarded]).strip()
    return Extracted(text, not plain and bool(html), tuple(attachments), len(forwarded), too_deep)


def _forwarded(part: Message, level: int) -> Extracted | None:
    """The forwarded message's text with a header block, its attachments and depth flag."""
    inner = _inner_message(part)
    if inner is None:
        return None
    sub = extract(inner, level + 1)
    head = [f"{name}: {_safe_header(inner, name)}" for name in ("From", "Date", "Subject")
            if inner.get(name)]
    text = "\n".join(["---------- Forwarded message ----------", *head, "", sub.text])
    return Extracted(text, sub.html_only, sub.attachments, sub.forwarded + 1, sub.too_deep)


def _inner_message(part: Message) -> Message | None:
    """message/rfc822 content; a base64 or quoted-printable one (not allowed, but sent) is
    decoded and parsed again, else its text would be base64 noise."""
    inner = part.get_payload()
    first = inner[0] if isinstance(inner, list) and inner else inner
    if not isinstance(first, Message):
        return None
    encoding = str(part.get("Content-Transfer-Encoding") or "").strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        return first
    try:
        data = first.as_bytes()
        raw = (base64.b64decode(data, validate=False) if encoding == "base64"
               else quopri.decodestring(data))
    except (binascii.Error, ValueError, UnicodeError, LookupError):
        return first
    return email.message_from_bytes(raw, policy=policy.compat32)


def _safe_header(msg: Message, name: str) -> str:
    return header_text(msg, name)
