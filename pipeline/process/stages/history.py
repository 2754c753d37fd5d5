"""Guard, second half: what our records say (one of our own mails came back, a sender over
its limit). Runs inside the write transaction, so it also sees the messages of the same
batch registered a moment before."""

from __future__ import annotations

from pipeline.process.guard import check_history
from pipeline.process.work import Work
from pipeline.services import Services


def stage_history(work: Work, env: Services) -> None:
    if not work.verdict.automatic:
        desk = env.config.desk
        work.verdict = check_history(work.need_conn(), work.need_parsed(), desk.sender_limit,
                                     desk.sender_window)
