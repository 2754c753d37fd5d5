"""Guard stage: may this message get an automatic reply?

Answering an autoresponder, a bounce, a list or ourselves is how mail loops start (RFC 3834
section 2). A guarded message is still registered and classified; it only gets no ack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, func, select

from pipeline.db import utcnow
from pipeline.process import ownmail
from pipeline.process.parse import ParsedMessage
from pipeline.schema import inbound
from pipeline.vocabulary import fold

BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
DAEMON_LOCALPARTS = ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply",
                     "do-not-reply")
REPORT_TYPES = {"multipart/report", "message/delivery-status", "message/disposition-notification"}


@dataclass(frozen=True)
class Verdict:
    automatic: bool
    reason: str | None = None
    auto_reply: bool = False  # an out-of-office or vacation reply: not a case for anyone


ANSWERABLE = Verdict(False)
# Out-of-office replies that carry no RFC 3834 header still say what they are in the subject.
_AUTO_REPLY_SUBJECT = re.compile(
    r"(^|:\s*)(respuesta automatica|fuera de (la )?oficina|ausente de la oficina|automatic reply"
    r"|auto[- ]?reply|autoresponse|out of (the )?office|reponse automatique|risposta automatica"
    r"|resposta automatica|abwesenheitsnotiz|automatische antwort)\b")


def header_reason(parsed: ParsedMessage) -> str | None:
    """Why the headers alone mark this mail as automatic, or None."""
    h = parsed.guard_headers
    auto = h.get("auto-submitted", "").split(";")[0].strip().lower()
    checks = (
        (auto not in ("", "no"), f"Auto-Submitted: {auto}"),
        (auto_reply(parsed), "automatic reply (out of office)"),
        (h.get("precedence", "").strip().lower() in BULK_PRECEDENCE, "Precedence: bulk/list"),
        ("x-auto-response-suppress" in h, "X-Auto-Response-Suppress"),
        ("list-id" in h or "list-unsubscribe" in h, "mailing list"),
        ("x-autoreply" in h or "x-autorespond" in h, "X-Autoreply"),
        ("x-failed-recipients" in h, "bounce (X-Failed-Recipients)"),
        (parsed.content_type in REPORT_TYPES, f"delivery report ({parsed.content_type})"),
        (h.get("return-path", "x").strip() in ("<>", ""), "null return path"),
        (_daemon_sender(parsed.from_addr), f"daemon sender {parsed.from_addr}"),
        (not parsed.from_addr, "no sender address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def auto_reply(parsed: ParsedMessage) -> bool:
    """An out-of-office or vacation reply, by its headers or, lacking them, its subject."""
    h = parsed.guard_headers
    auto = h.get("auto-submitted", "").split(";")[0].strip().lower()
    return (auto == "auto-replied" or "x-autoreply" in h or "x-autorespond" in h
            or h.get("precedence", "").strip().lower() == "auto_reply"
            or bool(_AUTO_REPLY_SUBJECT.search(fold(parsed.subject))))


def _daemon_sender(address: str) -> bool:
    local = address.split("@", 1)[0]
    return any(local.startswith(prefix) for prefix in DAEMON_LOCALPARTS)


def check_headers(parsed: ParsedMessage, own_addresses: frozenset[str] | tuple[str, ...]) -> Verdict:
    """What the message alone tells; runs before the write transaction."""
    reason = header_reason(parsed)
    if reason is None and parsed.from_addr in own_addresses:
        reason = "sent from one of our own addresses"
    return Verdict(True, reason, auto_reply(parsed)) if reason else ANSWERABLE


def check_history(conn: Connection, parsed: ParsedMessage, sender_limit: int,
                  sender_window: int) -> Verdict:
    """What our records tell; runs inside the write transaction, so it also sees the
    messages of the same batch registered a moment before (a burst from one looping
    sender is cut off inside the batch, not one batch later)."""
    sent = _sent_by_us(conn, parsed)
    over = not sent and _over_limit(conn, parsed.from_addr, sender_limit, sender_window)
    return history_verdict(sent, over, sender_limit, sender_window)


def history_verdict(sent_by_us: bool, over_limit: bool, sender_limit: int,
                    sender_window: int) -> Verdict:
    """The verdict from what our records say (shared with the batch writer, which asks once
    per batch)."""
    reason = None
    if sent_by_us:
        reason = "one of our own messages came back"
    elif over_limit:
        reason = f"more than {sender_limit} messages from this sender in {sender_window} s"
    return Verdict(True, reason) if reason else ANSWERABLE


def _sent_by_us(conn: Connection, parsed: ParsedMessage) -> bool:
    return bool(parsed.message_id) and ownmail.is_our_message_id(conn, parsed.message_id)


def _over_limit(conn: Connection, sender: str, limit: int, window: int) -> bool:
    since = utcnow() - timedelta(seconds=window)
    count = conn.execute(select(func.count()).select_from(inbound).where(
        inbound.c.sender == sender, inbound.c.received_at >= since,
        inbound.c.state == "processed")).scalar_one()
    return count >= limit
