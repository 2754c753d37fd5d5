"""Correction: a team member's reply that corrects labels (`tipo: incidente`).

The labels are recorded here; the later stages act on `work.correction`: thread puts the
mail on its ticket, register stores it as a correction, and planning sends the re-route
and the answer to unknown words instead of an ack and a forward."""

from __future__ import annotations

from pipeline.process.work import Work
from pipeline.services import Services
from pipeline.tracking import corrections


def stage_correction(work: Work, env: Services) -> None:
    if work.verdict.automatic:
        return
    found = corrections.from_mail(work.need_conn(), env.config, env.model, work.need_parsed())
    if found is not None:
        corrections.record(work.need_conn(), found, work.inbound_id)
        work.correction = found
