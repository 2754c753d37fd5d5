"""Header and charset text: bytes in any declared (or wrong) charset to str, never raising.

Both the parser and the MIME walker need these, so they live apart from both. Real mail
carries 8-bit headers, unknown charsets and broken encoded words; each helper degrades
to the best readable text instead of failing the message.
"""

from __future__ import annotations

import re
from email.header import decode_header
from email.message import Message

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """Decode with the declared charset, then UTF-8, then cp1252; never raise."""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return payload.decode(candidate)
        except (LookupError, ValueError):  # unknown codec, bad bytes, a NUL in the name
            continue
    damaged = payload.decode("utf-8", errors="replace")
    if _mostly_utf8(damaged):  # UTF-8 with a character cut off or a stray byte
        return damaged
    return payload.decode("cp1252", errors="replace")


def _mostly_utf8(text: str) -> bool:
    """Many well-formed multi-byte characters and few broken ones: UTF-8 that got damaged.
    A lone Latin-1 byte ("Contrase\xf1a") has no well-formed company, so it is not."""
    broken = text.count("\ufffd")
    wellformed = sum(1 for ch in text if ord(ch) > 127) - broken
    return wellformed >= 3 * broken


def raw_headers(msg: Message, name: str) -> list[str]:
    """Header values as stored (compat32 would wrap 8-bit ones in Header objects)."""
    wanted = name.lower()
    return [str(v) for k, v in msg.raw_items() if k.lower() == wanted]


def header_text(msg: Message, name: str) -> str:
    """A header as one clean line of text, RFC 2047 decoded, whatever state it is in."""
    values = raw_headers(msg, name)
    if not values:
        return ""
    return CONTROL_CHARS.sub(" ", decode_words(values[0])).strip()


def header_raw(msg: Message, name: str) -> str:
    values = raw_headers(msg, name)
    return values[0] if values else ""


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded; raw 8-bit bytes read as UTF-8, else cp1252."""
    value = repair_8bit(value)
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
    except Exception:  # malformed encoded words: keep the text as sent
        return value
    # each chunk on its own, so one word in an unknown charset does not spoil the rest
    return "".join(c if isinstance(c, str) else decode_bytes(c, _charset(cs))
                   for c, cs in chunks)


def _charset(name: str | None) -> str | None:
    """decode_header reports unknown-8bit and the like; those are no codec names."""
    return None if not name or name.startswith("unknown") else name


def repair_8bit(value: str) -> str:
    """Headers with raw 8-bit bytes arrive as surrogate escapes; decode them for real."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_bytes(value.encode("ascii", "surrogateescape"), None)
