"""Composing: a planned mail's final bytes, from the templates, the headers and, for team
mails, the original message attached. The sender calls this once per mail, before its
first attempt; the start-up check calls it on sample mail."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pipeline.config.outbound import OutboundConfig
from pipeline.outbound import render
from pipeline.outbound.headers import Head, assemble
from pipeline.outbound.mail import TEAM_KINDS, Draft, MailContext, thread_of
from pipeline.outbound.mailvars import variables


def compose(cfg: OutboundConfig, ctx: MailContext, draft: Draft) -> bytes:
    values = variables(cfg, ctx, draft.language, draft.decision)
    values.update(draft.extra)
    body = render.render(cfg.templates, draft.kind, draft.language, values)
    original = ctx.raw if draft.kind in TEAM_KINDS else None
    return assemble(_head(cfg, ctx, draft), body.text, body.html, original)


def _head(cfg: OutboundConfig, ctx: MailContext, draft: Draft) -> Head:
    in_reply_to, references = _threading(ctx, draft)
    return Head(
        from_name=cfg.from_name, from_address=cfg.from_address, reply_to=cfg.reply_to,
        to=draft.recipients, subject=draft.subject, message_id=draft.message_id,
        date=draft.date.astimezone(ZoneInfo(cfg.service_levels.timezone)),
        auto_submitted="auto-generated" if draft.kind in TEAM_KINDS else "auto-replied",
        ticket_ref=ctx.ticket_ref, in_reply_to=in_reply_to, references=references,
    )


def _threading(ctx: MailContext, draft: Draft) -> tuple[str | None, tuple[str, ...]]:
    """The message answered and the thread so far: the case's own, unless the draft says."""
    if draft.in_reply_to is not None or draft.references is not None:
        return draft.in_reply_to, tuple(draft.references or ())
    return thread_of(ctx.parsed)
