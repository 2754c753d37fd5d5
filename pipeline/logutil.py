"""Logging set-up: one line per event, and a last-resort filter that masks secrets.

Code never formats a secret into a message; the filter is the belt to those braces: every
secret the daemon reads is registered here and replaced by **** wherever it would appear.
"""

from __future__ import annotations

import logging
import sys

_SECRETS: set[str] = set()


def register_secret(value: str) -> None:
    if value and len(value) >= 4:
        _SECRETS.add(value)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            message = record.getMessage()
            for secret in _SECRETS:
                message = message.replace(secret, "****")
            record.msg, record.args = message, None
        return True


def setup(verbose: int = 0, stream=None) -> None:
    level = logging.WARNING if verbose < 0 else (logging.INFO if verbose < 2 else logging.DEBUG)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("apscheduler", "imapclient", "alembic", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "job skipped: maximum number of running instances reached" comes once per interval
    # while a long poll or a stuck drain runs: noise, not news (job errors stay visible)
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
