"""The register, audit and plan stages of one message as rows in memory, for batchwrite.

Each function decides what its stage would write, with the same shared helpers
(register_values, sample_row, the planner, queue.row_values), and counts what it adds into
the batch's facts so the next message sees it: the per-recipient limit, the limit on team
mail caused by automatic mail, the ticket's owner team, the mails already queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table

from pipeline.addresses import normalise
from pipeline.config.outbound import OutboundConfig
from pipeline.db import fit_index
from pipeline.outbound import planner, policy, queue
from pipeline.outbound.mail import TEAM_KINDS, USER_KINDS, MailContext, OutgoingMail
from pipeline.process import ownmail
from pipeline.process.batchfacts import Facts
from pipeline.process.stages.plan import mail_context
from pipeline.process.stages.register import REGISTER, prediction_rows, register_values
from pipeline.process.work import Work
from pipeline.schema import audit_sample, outbox, predictions
from pipeline.services import Services
from pipeline.tracking import auditsample

__all__ = ["REGISTER", "Rows", "add"]
_NO_TEAM_MAIL = {"route": "no routing mail", "triage": "no routing mail", "forward": "no forward"}


@dataclass
class Rows:
    register: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def inserts(self) -> tuple[tuple[Table, list[dict[str, Any]]], ...]:
        return ((predictions, self.predictions), (audit_sample, self.audit), (outbox, self.outbox))


def add(rows: Rows, work: Work, env: Services, facts: Facts) -> None:
    rows.register.append(register_values(work, env, facts.now))
    rows.predictions.extend(prediction_rows(work, env, facts.now))
    _audit(rows, work, env, facts)
    _plan(rows, work, env, facts)


def _audit(rows: Rows, work: Work, env: Services, facts: Facts) -> None:
    """The audit stage: confident new tickets draw their place in the sample, once."""
    if work.need_ticket("audit").is_followup or not auditsample.is_confident(work.predictions):
        return
    if work.inbound_id in facts.audited:
        return
    facts.audited.add(work.inbound_id)
    rows.audit.append(auditsample.sample_row(work.inbound_id, work.need_parsed().dedupe_key,
                                             env.config.tracking.audit_fraction, facts.now))


def _plan(rows: Rows, work: Work, env: Services, facts: Facts) -> None:
    """The plan stage; the limits the planner asks the database about are counted here."""
    ticket = work.need_ticket("outbound")
    owner = facts.owner.get(ticket.id, ()) if ticket.is_followup else ()
    ctx = mail_context(work, owner, facts.now)
    cfg = env.config.outbound
    for mail in planner.plan_mails(cfg, ctx, None, env.config.desk.max_message_bytes):
        refusal = _over_limit(mail, ctx, cfg, facts)
        if refusal:
            planner.log_skipped(ctx, [refusal])
        elif (work.inbound_id, mail.kind) in facts.queued:
            queue.not_queued(mail, f"message {work.inbound_id} already has a queued {mail.kind}")
        else:
            rows.outbox.append(queue.row_values(mail, facts.now))
            _count(mail, ctx, facts)


def _over_limit(mail: OutgoingMail, ctx: MailContext, cfg: OutboundConfig, facts: Facts) -> str | None:
    limit = policy.recipient_limit(cfg)
    if mail.kind in USER_KINDS:
        address = normalise(ctx.parsed.from_addr)
        reason = policy.over_recipient_limit(address, facts.user_mails[address], limit)
        return f"no {mail.kind}: {reason}" if reason else None
    if mail.kind in TEAM_KINDS and ctx.automatic:
        sender = ctx.parsed.from_addr
        reason = policy.over_automatic_limit(sender, facts.automatic_team[sender], limit)
        return f"{_NO_TEAM_MAIL[mail.kind]}: {reason}" if reason else None
    return None


def _count(mail: OutgoingMail, ctx: MailContext, facts: Facts) -> None:
    facts.queued.add((ctx.inbound_id or 0, mail.kind))
    if mail.kind in USER_KINDS:
        facts.user_mails[",".join(mail.recipients)] += 1
    if mail.kind in TEAM_KINDS and ctx.automatic and ctx.parsed.from_addr:
        facts.automatic_team[fit_index(ctx.parsed.from_addr)] += 1
    if mail.kind in ownmail.TEAM_KINDS:
        facts.owner[ctx.ticket_id] = mail.recipients
