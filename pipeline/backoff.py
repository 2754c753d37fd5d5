"""One backoff rule for everything that retries: the poller, the IDLE watcher and the
outbox sender. Doubling from `base`, capped at `cap`: a server that is down for an hour is
asked a handful of times, and one that comes back is noticed soon."""

from __future__ import annotations


def delay(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after `failures` failures in a row (0 -> base, 1 -> 2 x base...)."""
    return min(cap, base * 2.0 ** min(max(failures, 0), 30))
