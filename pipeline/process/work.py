"""What the stages learn about one inbound message, filled in as they run.

Stages never call each other: each reads what earlier stages wrote here and adds its own
result. A correction mail is such a result (`correction`), which the later stages act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from pipeline.errors import StageError
from pipeline.process.guard import ANSWERABLE, Verdict
from pipeline.process.parse import ParsedMessage
from pipeline.process.thread import TicketRef
from pipeline.tracking.corrections import Correction

# The text classified is the text stored: retraining reads the stored rows, and a 25 MB
# body would otherwise cost the classifier gigabytes for one message.
SUBJECT_LIMIT = 2000
BODY_LIMIT = 100_000


@dataclass
class Work:
    inbound_id: int
    mailbox: str
    raw: bytes
    parsed: ParsedMessage | None = None
    verdict: Verdict = ANSWERABLE
    predictions: dict[str, Any] = field(default_factory=dict)
    correction: Correction | None = None  # a team member correcting labels, not a follow-up
    ticket: TicketRef | None = None
    conn: Connection | None = None

    def need_parsed(self) -> ParsedMessage:
        if self.parsed is None:
            raise StageError("pipeline", "stage ran before parse")
        return self.parsed

    def need_conn(self) -> Connection:
        if self.conn is None:
            raise StageError("pipeline", "stage needs the transaction")
        return self.conn

    def need_ticket(self, stage: str) -> TicketRef:
        if self.ticket is None:
            raise StageError(stage, "no ticket was assigned")
        return self.ticket
