"""Failed logins per user name and per address, in a sliding window. Kept in the web
process's memory: one desk process serves the pages (a restart forgets, which only gives
an attacker what a wait of one window gives)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class LoginLimiter:
    def __init__(self, attempts: int, window: float) -> None:
        self.attempts, self.window = attempts, window
        self.failures: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self.failures[key]
        while found and found[0] < now - self.window:
            found.popleft()
        return found

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self.lock:
            return any(len(self._recent(k, now)) >= self.attempts for k in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self.lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, user_key: str) -> None:
        with self.lock:
            self.failures.pop(user_key, None)
