"""History queries at a chosen step: min, max and mean buckets from the right tier."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebellion.errors import ConfigError
from rebellion.monitor.store import HistoryStore, Tier


def _filled(path: Path, seconds: int = 600) -> HistoryStore:
    store = HistoryStore(path / "h.db", (Tier(1, 3600.0), Tier(10, 86400.0), Tier(60, 1e7)))
    for t in range(seconds):
        store.append(10_000.0 + t, {"m": float(t % 20)})
    store.flush()
    return store


def test_a_step_merges_buckets_into_min_max_and_mean(tmp_path: Path) -> None:
    store = _filled(tmp_path)
    points = store.history("m", 10_000.0, 10_100.0, step=20)
    assert [p.at for p in points] == [10_000.0 + 20 * i for i in range(5)]
    assert all((p.min, p.max, p.mean, p.count) == (0.0, 19.0, 9.5, 20) for p in points)


def test_without_a_step_the_range_fits_in_max_points(tmp_path: Path) -> None:
    store = _filled(tmp_path)
    points = store.history("m", 10_000.0, 10_600.0, max_points=30)
    assert len(points) == 30
    assert sum(p.count for p in points) == 600


def test_unflushed_samples_join_their_bucket(tmp_path: Path) -> None:
    store = _filled(tmp_path, 10)
    store.append(10_010.5, {"m": 100.0})
    (point,) = store.history("m", 10_000.0, 10_020.0, step=20)
    assert point.count == 11
    assert point.max == 100.0


def test_an_old_range_reads_the_tier_that_still_holds_it(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.db", (Tier(1, 60.0), Tier(10, 1e7)))
    for t in range(0, 600, 5):
        store.append(1_000.0 + t, {"m": 1.0})
    store.flush()
    points = store.history("m", 1_000.0, 1_100.0, step=1)
    assert points
    assert all(p.at % 10 == 0 for p in points)


@pytest.mark.parametrize("step", [0, -5, 10**9])
def test_a_bad_step_names_the_parameter(tmp_path: Path, step: int) -> None:
    store = _filled(tmp_path, 1)
    with pytest.raises(ConfigError, match="step"):
        store.history("m", 0.0, step=step)
