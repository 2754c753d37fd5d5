"""Audit: draw the share of confident new tickets that a person checks anyway."""

from __future__ import annotations

from pipeline.process.work import Work
from pipeline.services import Services
from pipeline.tracking import auditsample


def stage_audit(work: Work, env: Services) -> None:
    """Only new tickets whose every head was confident: the ones routed with no one looking."""
    if work.correction is not None or work.ticket is None or work.ticket.is_followup:
        return
    if not auditsample.is_confident(work.predictions):
        return
    auditsample.register(work.need_conn(), work.inbound_id, work.need_parsed().dedupe_key,
                         env.config.tracking.audit_fraction)
