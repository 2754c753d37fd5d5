"""May we write to this address now? Every rule in one place.

Never answer an automatic message or ourselves; never route into the desk's own mailbox;
at most `[outbox] recipient_limit` user mails to one address per window, and as many team
mails caused by automatic mail from one sender; as many correction replies to one agent.
Each rule returns the sentence that explains a refusal, or None, so the caller can log
exactly why a mail was not written.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from pipeline.addresses import is_address, normalise
from pipeline.config.outbound import OutboundConfig
from pipeline.db import as_utc
from pipeline.outbound.mail import TEAM_KINDS, USER_KINDS, MailContext
from pipeline.schema import RECIPIENT_PREFIX, inbound, outbox, recipients_prefix


def recipient_limit(cfg: OutboundConfig) -> tuple[int, int]:
    return cfg.outbox.recipient_limit, cfg.outbox.recipient_window


def user_mail_refusal(cfg: OutboundConfig, ctx: MailContext, conn: Connection | None,
                      now: datetime) -> str | None:
    """Why the sender must not get a mail from us, or None."""
    sender = normalise(ctx.parsed.from_addr)
    if ctx.automatic:
        return "the message is automatic (never answer an autoresponder)"
    if not is_address(sender):
        return f"the sender address {sender!r} is not one we can write to"
    if sender in cfg.own_addresses:
        return f"{sender} is one of our own addresses"
    if conn is not None:
        return limit_reason(conn, sender, recipient_limit(cfg), now)
    return None


def team_recipients(cfg: OutboundConfig, addresses: tuple[str, ...]) -> tuple[str, ...]:
    """Never route into the desk's own mailbox: the mail would come back as new work."""
    own = (cfg.from_address, cfg.reply_to)
    return tuple(a for a in (normalise(x) for x in addresses) if is_address(a) and a not in own)


def limit_reason(conn: Connection, address: str, limit: tuple[int, int],
                 now: datetime) -> str | None:
    """Why `address` may get no more user mails now (the per-recipient limit), or None."""
    return over_recipient_limit(address, _sent_to(conn, address, USER_KINDS, now, limit[1]), limit)


def over_recipient_limit(address: str, count: int, limit: tuple[int, int]) -> str | None:
    """The refusal when `address` already got `count` user mails in the window, or None
    (shared with the batch writer, which counts in memory)."""
    most, window = limit
    if count >= most:
        return f"{address} already got {count} mails from us in the last {window} s (limit {most})"
    return None


def correction_reply_refusal(conn: Connection, cfg: OutboundConfig, address: str,
                             now: datetime) -> str | None:
    """The same limit for answers to corrections: a responder that quotes our reply back
    cannot turn it into a loop."""
    most, window = recipient_limit(cfg)
    sent = _sent_to(conn, address, ("correction",), now, window)
    return f"{sent} correction replies in the last {window} s (limit {most})" if sent >= most else None


def automatic_team_reason(conn: Connection, sender: str, limit: tuple[int, int],
                          now: datetime) -> str | None:
    """Why automatic mail from `sender` may cause no more team mail now, or None: an
    autoresponder or a bouncing team address answering every routing mail would otherwise
    open a new ticket, and send a new routing mail, forever."""
    since = as_utc(now) - timedelta(seconds=limit[1])
    query = select(func.count()).select_from(
        outbox.join(inbound, outbox.c.inbound_id == inbound.c.id)).where(
        outbox.c.kind.in_(TEAM_KINDS), inbound.c.sender == sender,
        inbound.c.automatic.is_(True), outbox.c.created_at >= since)
    return over_automatic_limit(sender, conn.execute(query).scalar_one(), limit)


def over_automatic_limit(sender: str, count: int, limit: tuple[int, int]) -> str | None:
    """The refusal when automatic mail from `sender` already caused `count` team mails."""
    most, window = limit
    if count >= most:
        return (f"automatic mail from {sender or '(no sender)'} already caused {count} team mails "
                f"in the last {window} s (limit {most})")
    return None


def _sent_to(conn: Connection, address: str, kinds: tuple[str, ...], now: datetime,
             window: int) -> int:
    since = as_utc(now) - timedelta(seconds=window)
    return conn.execute(select(func.count()).select_from(outbox).where(
        outbox.c.kind.in_(kinds), outbox.c.created_at >= since,
        *_recipients_are(address))).scalar_one()


def _recipients_are(address: str) -> list:
    """`recipients == address`, written so the capped index (migration 0012) serves it:
    the prefix it indexes, and the length, which together are the whole value for any
    address up to the prefix's size. A plain equality beside them would make SQLite
    propagate the constant into the indexed expression and scan the table instead."""
    exact = [recipients_prefix == address[:RECIPIENT_PREFIX],
             func.length(outbox.c.recipients) == len(address)]
    return exact if len(address) <= RECIPIENT_PREFIX else [*exact, outbox.c.recipients == address]
