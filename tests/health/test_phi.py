"""Phi-accrual failure detector under virtual time: steady, silent and jittery peers."""

from __future__ import annotations

import math
import random
import threading
from typing import Any

import pytest

from rebellion import ConfigError
from rebellion.health import PhiAccrualFailureDetector
from rebellion.health.phi import phi, phi_threshold_offset
from rebellion.testing import ManualClock


def akka_phi(elapsed: float, mean: float, std: float) -> float:
    """Akka's formula, verbatim (two branches)."""
    y = (elapsed - mean) / std
    e = math.exp(-y * (1.5976 + 0.070566 * y * y))
    if elapsed > mean:
        return -math.log10(e / (1.0 + e))
    return -math.log10(1.0 - 1.0 / (1.0 + e))


def crossing_offset(threshold: float) -> float:
    """Solve 0.070566 y^3 + 1.5976 y - ln(10^threshold - 1) = 0 by bisection."""
    target = math.log(10.0**threshold - 1.0)
    low, high = -50.0, 50.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if 0.070566 * middle**3 + 1.5976 * middle < target:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def steady(detector: PhiAccrualFailureDetector, clock: ManualClock, n: int, every: float) -> None:
    for _ in range(n):
        detector.heartbeat("peer")
        clock.advance(every)


@pytest.mark.parametrize(
    ("elapsed", "mean", "std"),
    [(0.2, 1.0, 0.1), (1.0, 1.0, 0.1), (1.05, 1.0, 0.1), (1.3, 1.0, 0.1), (2.5, 2.0, 0.3)],
)
def test_phi_matches_akkas_two_branch_formula(elapsed: float, mean: float, std: float) -> None:
    assert phi(elapsed, mean, std) == pytest.approx(akka_phi(elapsed, mean, std), rel=1e-9)


def test_phi_never_overflows() -> None:
    assert phi(0.0, 100.0, 0.1) == 0.0
    assert phi(1e6, 1.0, 0.1) > 1e10


@pytest.mark.parametrize("threshold", [0.5, 1.0, 3.0, 8.0, 12.0])
def test_threshold_offset_is_the_root_of_the_cubic(threshold: float) -> None:
    assert phi_threshold_offset(threshold) == pytest.approx(crossing_offset(threshold), abs=1e-9)


def test_steady_heartbeats_keep_phi_low() -> None:
    clock = ManualClock()
    detector = PhiAccrualFailureDetector(acceptable_heartbeat_pause=0.0, clock=clock)
    for _ in range(200):
        detector.heartbeat("peer")
        for _ in range(10):
            clock.advance(0.1)
            assert detector.phi("peer") < 1.0
            assert detector.is_available("peer")


def test_silence_crosses_the_threshold_at_the_predicted_moment() -> None:
    clock = ManualClock()
    threshold, pause = 8.0, 0.5
    detector = PhiAccrualFailureDetector(
        threshold=threshold, acceptable_heartbeat_pause=pause, clock=clock
    )
    steady(detector, clock, 101, 1.0)  # 1 seed heartbeat + 100 intervals of exactly 1 s
    last = clock.monotonic() - 1.0
    # History: the seed's 0.75 and 1.25, then 100 intervals of 1.0.
    samples = [0.75, 1.25] + [1.0] * 100
    mean = sum(samples) / len(samples)
    std = max(math.sqrt(sum(x * x for x in samples) / len(samples) - mean * mean), 0.1)
    moment = last + mean + pause + crossing_offset(threshold) * std
    assert detector.suspect_at("peer") == pytest.approx(moment)
    assert detector.is_available("peer", now=moment - 1e-6)
    assert not detector.is_available("peer", now=moment + 1e-6)
    assert detector.phi("peer", now=moment) == pytest.approx(threshold, rel=1e-6)
    clock.advance(moment - clock.monotonic() + 0.001)
    assert not detector.is_available("peer")


def test_jittery_network_does_not_flap() -> None:
    rng = random.Random(42)
    clock = ManualClock()
    detector = PhiAccrualFailureDetector(acceptable_heartbeat_pause=0.2, clock=clock)
    flips = 0
    for _ in range(2000):
        detector.heartbeat("peer")
        gap = max(0.05, rng.gauss(1.0, 0.15))
        # Query several times within the gap, as a monitoring loop would.
        for step in range(1, 5):
            if not detector.is_available("peer", now=clock.monotonic() + gap * step / 4):
                flips += 1
        clock.advance(gap)
    assert flips == 0
    model = detector.peer_stats("peer")
    assert model is not None
    assert model["mean"] == pytest.approx(1.0, abs=0.02)
    assert model["std_deviation"] == pytest.approx(0.15, abs=0.02)
    assert model["samples"] == 1000


def test_a_long_silence_is_not_learned_as_an_interval() -> None:
    clock = ManualClock()
    detector = PhiAccrualFailureDetector(acceptable_heartbeat_pause=0.0, clock=clock)
    steady(detector, clock, 50, 1.0)
    before = detector.peer_stats("peer")
    clock.advance(60.0)  # the peer was down
    detector.heartbeat("peer")
    after = detector.peer_stats("peer")
    assert before is not None
    assert after is not None
    assert after["samples"] == before["samples"]
    assert after["mean"] == pytest.approx(before["mean"])
    assert detector.is_available("peer")


def test_unknown_peers_are_available_with_phi_zero() -> None:
    detector = PhiAccrualFailureDetector(clock=ManualClock())
    assert detector.phi("ghost") == 0.0
    assert detector.is_available("ghost")
    assert detector.suspect_at("ghost") is None
    assert detector.peer_stats("ghost") is None
    assert not detector.is_monitoring("ghost")


def test_peers_are_independent_and_removable() -> None:
    clock = ManualClock()
    detector = PhiAccrualFailureDetector(acceptable_heartbeat_pause=0.0, clock=clock)
    for _ in range(20):
        detector.heartbeat("fast")
        detector.heartbeat(("10.0.0.2", 5432))
        clock.advance(0.5)
    for _ in range(4):
        detector.heartbeat("fast")
        clock.advance(0.5)
    assert detector.is_available("fast")
    assert not detector.is_available(("10.0.0.2", 5432))
    assert sorted(map(str, detector.peers())) == ["('10.0.0.2', 5432)", "fast"]
    detector.remove("fast")
    assert not detector.is_monitoring("fast")
    assert set(detector.stats()["peers"]) == {"('10.0.0.2', 5432)"}


def test_the_ring_keeps_at_most_max_sample_size_and_sums_stay_exact() -> None:
    clock = ManualClock()
    detector = PhiAccrualFailureDetector(max_sample_size=10, clock=clock)
    rng = random.Random(3)
    gaps = [rng.uniform(0.5, 1.5) for _ in range(1000)]
    for gap in gaps:
        detector.heartbeat("p")
        clock.advance(gap)
    detector.heartbeat("p")
    model = detector.peer_stats("p")
    assert model is not None
    window = gaps[-10:]
    mean = sum(window) / 10
    assert model["samples"] == 10
    assert model["mean"] == pytest.approx(mean, rel=1e-9)
    std = math.sqrt(sum(x * x for x in window) / 10 - mean * mean)
    assert model["std_deviation"] == pytest.approx(max(std, 0.1), rel=1e-6)


def test_out_of_order_heartbeats_are_ignored() -> None:
    detector = PhiAccrualFailureDetector(clock=ManualClock())
    detector.heartbeat("p", now=10.0)
    detector.heartbeat("p", now=9.0)
    model = detector.peer_stats("p")
    assert model is not None
    assert (model["samples"], model["last_heartbeat"]) == (2, 10.0)


def test_threads_heartbeating_many_peers_keep_exact_counts() -> None:
    detector = PhiAccrualFailureDetector(max_sample_size=5000, clock=ManualClock())

    def worker(index: int) -> None:
        for step in range(500):
            detector.heartbeat(f"p{index % 4}", now=float(step))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for peer in ("p0", "p1", "p2", "p3"):
        model = detector.peer_stats(peer)
        assert model is not None
        assert model["samples"] <= 2 + 2 * 500


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"threshold": 0}, "threshold"),
        ({"threshold": "8"}, "threshold"),
        ({"max_sample_size": 1}, "max_sample_size"),
        ({"max_sample_size": 10.0}, "max_sample_size"),
        ({"min_std_deviation": 0}, "min_std_deviation"),
        ({"acceptable_heartbeat_pause": -1}, "acceptable_heartbeat_pause"),
        ({"first_heartbeat_estimate": 0}, "first_heartbeat_estimate"),
        ({"name": " x"}, "name"),
        ({"clock": 1}, "clock"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter):
        PhiAccrualFailureDetector(**kwargs)
