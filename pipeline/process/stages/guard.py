"""Guard, first half: what the headers alone say (autoresponder, list, bounce, ourselves).
A guarded message is still registered and classified; it just gets no acknowledgement."""

from __future__ import annotations

from pipeline.process.guard import check_headers
from pipeline.process.work import Work
from pipeline.services import Services


def stage_guard(work: Work, env: Services) -> None:
    work.verdict = check_headers(work.need_parsed(), env.own_addresses)
