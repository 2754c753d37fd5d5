"""The audit sample: a random share of confident predictions that a person checks anyway.

Corrections only see the errors someone noticed; confident predictions are routed with
nobody looking. Drawing a fixed fraction of them into the review queue gives an unbiased
estimate of their true error rate. The draw is made when the message is registered, from a
hash of the message's identity (the same message always draws the same number, on any
machine, after any restart), and stored with the fraction in force at the time.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from pipeline.db import utcnow
from pipeline.schema import audit_sample

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    rate: float | None
    low: float | None
    high: float | None


def draw(key: str) -> float:
    """A number in [0, 1) that depends on `key` only."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_confident(predictions: dict) -> bool:
    return bool(predictions) and not any(p.needs_review for p in predictions.values())


def register(conn: Connection, inbound_id: int, key: str, fraction: float) -> bool:
    """Store the draw of a confident prediction; returns whether it is in the sample."""
    if conn.execute(select(audit_sample.c.drawn).where(
            audit_sample.c.inbound_id == inbound_id)).first() is not None:
        return False
    row = sample_row(inbound_id, key, fraction, utcnow())
    conn.execute(audit_sample.insert().values(**row))
    return row["drawn"]


def sample_row(inbound_id: int, key: str, fraction: float, now: datetime) -> dict[str, Any]:
    """The audit_sample row of one message (shared with the batch writer)."""
    value = draw(key)
    return {"inbound_id": inbound_id, "draw": value, "fraction": fraction,
            "drawn": value < fraction, "created_at": now}


def wilson(errors: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval for a proportion: sound for small n and for 0 or n errors."""
    if n <= 0:
        return Interval(None, None, None)
    p = errors / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))
