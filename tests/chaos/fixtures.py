"""Fixtures for the chaos tests; import them into a test module to use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dovecot import Dovecot


@pytest.fixture(scope="module")
def own_dovecot() -> Iterator[Dovecot]:
    """A Dovecot of the module's own, so stopping it disturbs no other test."""
    server = Dovecot().start()
    yield server
    server.cleanup()
