"""The simulation's switch: ``pytest --include known-bugs`` also runs the fault families
that hit bugs being fixed on other branches (see ``rebellion.simulation.KNOWN_BUGS``)."""

from __future__ import annotations

import pytest


@pytest.fixture
def known_bugs(request: pytest.FixtureRequest) -> bool:
    """Whether ``--include known-bugs`` was given."""
    return "known-bugs" in request.config.getoption("--include")
