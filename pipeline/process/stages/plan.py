"""Plan: the mails this message causes, queued in its transaction (sent only if it commits).

They are decided here and composed later by the sender (pipeline/outbound/sender.py)."""

from __future__ import annotations

from datetime import datetime

from pipeline.db import utcnow
from pipeline.outbound import planner, queue
from pipeline.outbound.mail import MailContext
from pipeline.process import ownmail
from pipeline.process.work import Work
from pipeline.services import Services
from pipeline.tracking import corrections


def stage_plan(work: Work, env: Services) -> None:
    ticket, conn = work.need_ticket("outbound"), work.need_conn()
    if work.correction is not None:
        mails = corrections.mails_for(conn, env.config, env.model, work.correction,
                                      work.inbound_id, work.need_parsed())
        queue.enqueue(conn, mails)
        corrections.note_rerouted(conn, work.inbound_id, mails)
        return
    owner = ownmail.owner_team(conn, ticket.id) if ticket.is_followup else ()
    queue.enqueue(conn, planner.plan_mails(env.config.outbound, mail_context(work, owner, utcnow()),
                                           conn, env.config.desk.max_message_bytes))


def mail_context(work: Work, owner: tuple[str, ...], now: datetime) -> MailContext:
    """The case the planner decides on (shared with the batch writer)."""
    ticket = work.need_ticket("outbound")
    return MailContext(
        ticket_ref=ticket.ref, ticket_id=ticket.id, inbound_id=work.inbound_id,
        is_followup=ticket.is_followup, automatic=work.verdict.automatic,
        parsed=work.need_parsed(), raw=work.raw, predictions=work.predictions,
        mailbox=work.mailbox, received_at=now, owner_team=owner,
        auto_reply=work.verdict.auto_reply)
