"""Mail for the chaos scenarios: a realistic corpus with known truth, and hostile messages.

The corpus reuses the bundled sample mailbox (plain, HTML-only, attachments, Spanish and
English), re-addressed so every message has its own sender and Message-ID, and strips
threading headers so each one opens its own ticket. A share of them carry
`Auto-Submitted: auto-replied`, so the expected number of acknowledgements is known.
"""

from __future__ import annotations

import email
import random
from dataclasses import dataclass
from email import policy
from email.message import Message
from pathlib import Path

from chaos.harness import ROOT

SAMPLE = ROOT / "pipeline" / "sample_mailbox" / "new"
MIME_FIXTURES = [ROOT / "tests" / "fixtures" / "mime", Path("/work/shared/data/mime")]
THREADING = ("Message-ID", "In-Reply-To", "References", "From", "Subject", "To", "Reply-To",
             "Return-Path", "Sender")


@dataclass(frozen=True)
class Mail:
    message_id: str  # lower case, with <>, as the pipeline stores it
    raw: bytes
    automatic: bool


def answerable_bases() -> list[Message]:
    """Sample messages a desk would answer (no autoresponder, list, bounce or daemon)."""
    bases = []
    for path in sorted(SAMPLE.iterdir()):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.compat32)
        sender = str(msg.get("From", "")).lower()
        if (msg.get("Auto-Submitted") or msg.get("List-Id") or msg.get("Precedence")
                or msg.get_content_type() == "multipart/report" or "daemon" in sender
                or "postmaster" in sender or "noreply" in sender):
            continue
        bases.append(msg)
    return bases


def corpus(n: int, rng: random.Random, automatic_share: float = 0.05,
           tag: str = "chaos") -> list[Mail]:
    bases = answerable_bases()
    out = []
    for i in range(n):
        base = bases[rng.randrange(len(bases))]
        automatic = rng.random() < automatic_share
        out.append(readdress(base, i, tag, automatic))
    return out


def readdress(base: Message, i: int, tag: str, automatic: bool) -> Mail:
    msg = email.message_from_bytes(base.as_bytes(), policy=policy.compat32)
    subject = str(base.get("Subject", "")).replace("\n", " ")[:120]
    for name in THREADING:
        del msg[name]
    message_id = f"<{tag}-{i}@sender.example.com>"
    msg["From"] = f"User {i} <user{i}.{tag}@example.com>"
    msg["To"] = "desk@example.org"
    msg["Subject"] = f"{subject} #{i}"
    msg["Message-ID"] = message_id
    if automatic:
        msg["Auto-Submitted"] = "auto-replied"
    return Mail(message_id, msg.as_bytes(), automatic)


def real_messages(limit: int = 400) -> list[bytes]:
    """Real-world MIME test messages (other projects' fixtures) for mutation tests."""
    found: list[bytes] = []
    for folder in MIME_FIXTURES:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "LICENSE" not in path.name and path.stat().st_size < 200_000:
                found.append(path.read_bytes())
    found.extend(p.read_bytes() for p in sorted(SAMPLE.iterdir()))
    return found[:limit]
