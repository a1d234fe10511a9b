"""Shared fixtures: a clean registry per test and drivers for contract tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from _drivers import DRIVER_MODES, Driver
from rebellion import registry


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    registry.clear()
    yield
    registry.clear()


@pytest.fixture(params=DRIVER_MODES)
def driver(request: pytest.FixtureRequest) -> Driver:
    return Driver(request.param)
