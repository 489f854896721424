"""Fixtures for the API tests: the session's api-server over the simulated store, and clients.

Every test starts from the store as the simulated days left it (alerts, their history and the
settings are put back before each test), so tests may acknowledge and resolve freely.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.support.monitor_env import MonitorEnv


def _client(monitor: MonitorEnv, user: str | None) -> Iterator[httpx.Client]:
    with monitor.server.client(user) as client:
        yield client


@pytest.fixture
def op(monitor: MonitorEnv) -> Iterator[httpx.Client]:
    """Client with op1's token (role op: may acknowledge and resolve)."""
    yield from _client(monitor, "op1")


@pytest.fixture
def viewer(monitor: MonitorEnv) -> Iterator[httpx.Client]:
    """Client with viewer1's token (role viewer: reads only)."""
    yield from _client(monitor, "viewer1")


@pytest.fixture
def admin(monitor: MonitorEnv) -> Iterator[httpx.Client]:
    yield from _client(monitor, "admin1")


@pytest.fixture
def anonymous(monitor: MonitorEnv) -> Iterator[httpx.Client]:
    """Client without any token."""
    yield from _client(monitor, None)
