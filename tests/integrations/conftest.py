"""Fixtures for the integration tests: a scriptable real HTTP server and idle-pool checks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from integrations._fault_server import FaultServer, fault_server


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as running:
        yield running


@pytest.fixture
def other_server() -> Iterator[FaultServer]:
    with fault_server() as running:
        yield running


def pool_is_idle(transport: httpx.HTTPTransport | httpx.AsyncHTTPTransport) -> bool:
    """Whether no connection of ``transport``'s pool still carries a request (no leak)."""
    pool = transport._pool
    return not pool._requests and all(c.is_idle() or c.is_closed() for c in pool.connections)
