"""Thread: the ticket a message belongs to, a new one or the one it follows up."""

from __future__ import annotations

from pipeline.process.thread import attach
from pipeline.process.work import Work
from pipeline.services import Services


def stage_thread(work: Work, env: Services) -> None:
    if work.correction is not None:
        work.ticket = work.correction.ticket
        return
    work.ticket = attach(work.need_conn(), work.need_parsed(), work.mailbox,
                         env.config.desk.ticket_prefix)
