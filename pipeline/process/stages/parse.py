"""Parse: raw bytes to the immutable record every later stage reads."""

from __future__ import annotations

from pipeline.process.parse import parse_message
from pipeline.process.work import Work
from pipeline.services import Services


def stage_parse(work: Work, env: Services) -> None:
    work.parsed = parse_message(work.raw, env.config.desk.max_message_bytes)
