"""RetryBudget: a ratio of recent traffic plus a floor, over a sliding window."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from rebellion import ConfigError, RetryBudget, registry
from rebellion.testing import ManualClock


def withdraw(budget: RetryBudget, times: int) -> list[bool]:
    return [budget.try_withdraw() for _ in range(times)]


def record(budget: RetryBudget, times: int) -> None:
    for _ in range(times):
        budget.record_request()


def test_floor_allows_retries_without_any_traffic() -> None:
    budget = RetryBudget(ratio=0.2, min_retries_per_second=1, ttl=10, clock=ManualClock())
    assert withdraw(budget, 11) == [True] * 10 + [False]


def test_retries_are_limited_to_a_percentage_of_requests() -> None:
    budget = RetryBudget(ratio=0.2, min_retries_per_second=0, ttl=10, clock=ManualClock())
    assert budget.try_withdraw() is False
    record(budget, 50)
    assert withdraw(budget, 11) == [True] * 10 + [False]
    record(budget, 5)
    assert withdraw(budget, 2) == [True, False]


def test_requests_leave_the_window_after_ttl() -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio=0.1, min_retries_per_second=0, ttl=10, clock=clock)
    record(budget, 100)
    clock.advance(9.99)
    assert budget.stats()["window_requests"] == 100
    clock.advance(0.01)
    assert budget.stats()["window_requests"] == 0
    assert budget.try_withdraw() is False


def test_withdrawn_retries_are_given_back_after_ttl() -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio=0, min_retries_per_second=0.5, ttl=4, clock=clock)
    assert withdraw(budget, 3) == [True, True, False]
    clock.advance(2)
    assert budget.try_withdraw() is False
    clock.advance(2)
    assert withdraw(budget, 3) == [True, True, False]


def test_window_slides_slot_by_slot() -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio=1, min_retries_per_second=0, ttl=10, clock=clock)
    for _ in range(10):
        budget.record_request()
        clock.advance(1)
    # Slots of 1 s: the request made at t=0 has just left, the other nine remain.
    assert budget.stats()["window_requests"] == 9
    assert budget.available == 9


def test_a_long_idle_gap_empties_the_window() -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio=0.5, min_retries_per_second=0, ttl=1, clock=clock)
    record(budget, 10)
    assert withdraw(budget, 2) == [True, True]
    clock.advance(1000)
    assert budget.stats()["window_requests"] == 0
    assert budget.stats()["window_retries"] == 0
    record(budget, 2)
    assert withdraw(budget, 2) == [True, False]


def test_record_request_takes_no_lock_inside_a_slot() -> None:
    class NoLock:
        def __enter__(self) -> Any:
            raise AssertionError("record_request took the lock")

        def __exit__(self, *exc: object) -> None: ...

    budget = RetryBudget(ratio=0.1, min_retries_per_second=0, ttl=10, clock=ManualClock())
    real_lock = budget._lock
    budget._lock = NoLock()  # type: ignore[assignment]
    record(budget, 1000)
    budget._lock = real_lock
    assert budget.stats()["window_requests"] == 1000


def test_stats_report_window_and_totals() -> None:
    budget = RetryBudget(
        ratio=0.25, min_retries_per_second=0, ttl=10, name="shared", clock=ManualClock()
    )
    record(budget, 8)
    withdraw(budget, 3)
    assert budget.stats() == {
        "kind": "retry_budget",
        "name": "shared",
        "ratio": 0.25,
        "min_retries_per_second": 0.0,
        "ttl": 10.0,
        "window_requests": 8,
        "window_retries": 2,
        "available": 0,
        "withdrawn": 2,
        "refused": 1,
    }
    assert any(entry["name"] == "shared" for entry in registry.snapshot())


def test_percent_is_an_alias_of_the_ratio() -> None:
    assert RetryBudget(percent=20, clock=ManualClock()).ratio == pytest.approx(0.2)


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBELLION_RETRY_BUDGET_PERCENT", "50")
    monkeypatch.setenv("REBELLION_RETRY_BUDGET_MIN_PER_SECOND", "0")
    budget = RetryBudget(clock=ManualClock())
    assert (budget.ratio, budget.min_retries_per_second, budget.ttl) == (0.5, 0.0, 10.0)
    monkeypatch.setenv("REBELLION_RETRY_BUDGET_PERCENT", "-3")
    with pytest.raises(ConfigError, match="REBELLION_RETRY_BUDGET_PERCENT"):
        RetryBudget()


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"percent": -1}, "percent"),
        ({"percent": "20"}, "percent"),
        ({"ratio": 20}, "ratio"),  # a fraction, not percent
        ({"ratio": -0.1}, "ratio"),
        ({"ratio": 0.2, "percent": 20}, "percent"),
        ({"min_retries_per_second": -0.1}, "min_retries_per_second"),
        ({"min_retries_per_second": float("inf")}, "min_retries_per_second"),
        ({"ttl": 0}, "ttl"),
        ({"ttl": None}, "ttl"),
        ({"name": ""}, "name"),
        ({"name": " padded "}, "name"),
        ({"clock": object()}, "clock"),
        ({"buckets": 1}, "buckets"),
        ({"buckets": 2.5}, "buckets"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter) as caught:
        RetryBudget(**kwargs)
    assert caught.value.parameter == parameter


def test_concurrent_threads_never_overdraw_or_lose_counts() -> None:
    budget = RetryBudget(ratio=0.1, min_retries_per_second=0, ttl=10, clock=ManualClock())
    threads_n, requests_each, withdrawals_each = 8, 5000, 1000
    results: list[list[bool]] = [[] for _ in range(threads_n)]
    start = threading.Barrier(threads_n)

    def requests() -> None:
        start.wait()
        record(budget, requests_each)

    def withdrawals(slot: int) -> None:
        start.wait()
        results[slot] = withdraw(budget, withdrawals_each)

    for phase in (lambda i: requests, lambda i: lambda: withdrawals(i)):
        workers = [threading.Thread(target=phase(i)) for i in range(threads_n)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    granted = sum(sum(r) for r in results)
    stats = budget.stats()
    assert stats["window_requests"] == threads_n * requests_each
    assert granted == stats["withdrawn"] == threads_n * requests_each // 10
    assert stats["refused"] == threads_n * withdrawals_each - granted
