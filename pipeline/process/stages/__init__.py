"""The pipeline as data: ordered lists of (name, stage), each stage one module here.

Stages never call each other. The runner takes a batch of stored messages through three
groups: READ_STAGES per message (no database writes), BATCH_STAGES over the whole batch
(the classifier is far faster on a batch), then WRITE_STAGES per message inside the
batch's transaction, each message in its own savepoint, so a ticket, its predictions and
its outgoing mail exist together or not at all. (The runner first tries the same writes
set-based for the whole batch, pipeline/process/batchwrite.py, and comes here when that
fails: a stage added to WRITE_STAGES needs its batch form there too.) To add a stage: write a module here with
one function taking (work, env), and put it in the right list; the name is what a
quarantined message shows as the stage that failed.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.process.stages import audit, classify, correction, guard, history, parse, plan, register, thread
from pipeline.process.work import Work
from pipeline.services import Services

Stage = Callable[[Work, Services], None]
BatchStage = Callable[[list[Work], Services], None]

READ_STAGES: tuple[tuple[str, Stage], ...] = (
    ("parse", parse.stage_parse), ("guard", guard.stage_guard))
BATCH_STAGES: tuple[tuple[str, BatchStage], ...] = (("classify", classify.stage_classify),)
WRITE_STAGES: tuple[tuple[str, Stage], ...] = (
    ("guard", history.stage_history), ("correction", correction.stage_correction),
    ("thread", thread.stage_thread), ("register", register.stage_register),
    ("audit", audit.stage_audit), ("outbound", plan.stage_plan))
