"""Recovery by error type name (the seed's AutonomousErrorRecovery)."""

from __future__ import annotations

import threading

import pytest

from rebellion import ConfigError
from rebellion.policies.recovery import AutonomousErrorRecovery, ErrorTypeRecovery
from rebellion.testing import ManualClock


def test_the_seed_name_is_the_same_class() -> None:
    assert AutonomousErrorRecovery is ErrorTypeRecovery


def test_a_failing_strategy_is_recorded_and_raises() -> None:
    def broken(details: object) -> None:
        raise RuntimeError("still broken")

    recovery = ErrorTypeRecovery({"disk_full": broken}, clock=ManualClock())
    with pytest.raises(RuntimeError, match="still broken"):
        recovery.handle_error("disk_full", {"free": 0})
    assert recovery.error_history[-1].outcome == "failed"
    assert recovery.stats()["failed"] == 1


async def test_a_coroutine_strategy_is_returned_for_the_caller_to_await() -> None:
    async def reconnect(details: object) -> str:
        return "back"

    recovery = ErrorTypeRecovery({"connection_failure": reconnect})
    assert await recovery.handle_error("connection_failure", None) == "back"


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda r: r.handle_error("", None), "error_type"),
        (lambda r: r.handle_error(3, None), "error_type"),
        (lambda r: r.register_strategy("x", "not callable"), "strategy"),
        (lambda r: ErrorTypeRecovery(history_size=0), "history_size"),
        (lambda r: ErrorTypeRecovery(strategies=[1]), "strategies"),
    ],
)
def test_bad_input_names_the_parameter(call: object, parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter):
        call(ErrorTypeRecovery())  # type: ignore[operator]


def test_history_is_bounded_and_counts_stay_exact_under_threads() -> None:
    recovery = ErrorTypeRecovery({"e": lambda d: d}, history_size=50)

    def work() -> None:
        for i in range(500):
            recovery.handle_error("e", i)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(recovery.error_history) == 50
    assert recovery.stats()["recovered"] == 4000
    assert recovery.stats()["by_type"] == {"e": 4000}
