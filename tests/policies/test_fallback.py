"""Fallback: the seed example, error and result triggers, sync/async pairing, accounting."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from _drivers import Driver
from rebellion import ConfigError, FailureClassifier, FailureKind, Fallback, FallbackUsed
from rebellion.testing import FlakyCallable, RecordingListener


class ServiceUnavailableException(Exception):
    pass


class TimeoutException(Exception):
    pass


def test_seed_example_works_as_written() -> None:
    async def anthropic_fallback(prompt: str, model: str, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return ("anthropic", prompt, model, kwargs)

    openai_with_fallback = Fallback(
        fallback_function=anthropic_fallback,
        should_fallback_on=[ServiceUnavailableException, TimeoutException],
    )

    @openai_with_fallback
    async def call_openai_with_fallback(prompt: str, model: str, **kwargs: Any) -> Any:
        raise ServiceUnavailableException("openai is down")

    result = asyncio.run(call_openai_with_fallback("hi", "gpt-4", temperature=0.2))
    assert result == ("anthropic", "hi", "gpt-4", {"temperature": 0.2})
    assert call_openai_with_fallback.__name__ == "call_openai_with_fallback"


def test_falls_back_with_the_same_arguments(driver: Driver) -> None:
    seen: list[Any] = []

    def cached(prompt: str, model: str, **kwargs: Any) -> str:
        seen.append((prompt, model, kwargs))
        return "cached"

    policy = Fallback(cached, should_fallback_on=[TimeoutException])
    primary = FlakyCallable([TimeoutException()], then="live")
    assert driver.run(policy, primary, "p", "m", top_k=3) == "cached"
    assert seen == [("p", "m", {"top_k": 3})]
    assert driver.run(policy, primary, "p", "m") == "live"
    assert len(seen) == 1


def test_other_errors_propagate_unchanged(driver: Driver) -> None:
    policy = Fallback(lambda: "cached", should_fallback_on=[ServiceUnavailableException])
    error = KeyError("missing")
    with pytest.raises(KeyError) as caught:
        driver.run(policy, FlakyCallable([error]))
    assert caught.value is error


def test_any_exception_triggers_it_by_default(driver: Driver) -> None:
    policy = Fallback(lambda: "cached")
    assert driver.run(policy, FlakyCallable([RuntimeError()])) == "cached"


def test_cancellation_and_interrupts_never_trigger_it(driver: Driver) -> None:
    policy = Fallback(lambda: "cached")
    for error in (KeyboardInterrupt(), asyncio.CancelledError()):
        with pytest.raises(type(error)):
            driver.run(policy, FlakyCallable([error]))
    assert policy.stats()["fallbacks"] == 0


def test_falls_back_on_a_rejected_result(driver: Driver) -> None:
    policy = Fallback(lambda: "default", fallback_if_result=lambda result: result is None)
    assert driver.run(policy, lambda: None) == "default"
    assert driver.run(policy, lambda: 0) == 0


def test_classifier_keeps_programming_errors_visible(driver: Driver) -> None:
    def rule(result: Any) -> FailureKind | None:
        return FailureKind.SERVER_ERROR if result == 503 else None

    policy = Fallback(lambda: "cached", classifier=FailureClassifier(result_rule=rule))
    assert driver.run(policy, FlakyCallable([ConnectionError()])) == "cached"
    assert driver.run(policy, lambda: 503) == "cached"
    assert driver.run(policy, lambda: 200) == 200
    with pytest.raises(TypeError):
        driver.run(policy, FlakyCallable([TypeError("a bug, not an outage")]))


def test_constant_fallback_value(driver: Driver) -> None:
    policy = Fallback.value([], should_fallback_on=ConnectionError, name="empty")
    assert driver.run(policy, FlakyCallable([ConnectionError()]), "ignored", x=1) == []
    assert policy.name == "empty"


def test_an_error_in_the_fallback_propagates_with_the_primary_as_context(driver: Driver) -> None:
    primary_error = ConnectionError("primary")

    def broken_fallback() -> None:
        raise LookupError("fallback broke too")

    with pytest.raises(LookupError) as caught:
        driver.run(Fallback(broken_fallback), FlakyCallable([primary_error]))
    assert caught.value.__context__ is primary_error


def test_async_primary_may_have_a_sync_fallback() -> None:
    policy = Fallback(lambda x: x * 2)

    @policy
    async def primary(x: int) -> int:
        raise ConnectionError

    assert asyncio.run(primary(21)) == 42


def test_async_fallback_for_a_sync_primary_is_refused_early() -> None:
    async def async_fallback() -> str:
        return "x"

    policy = Fallback(async_fallback)
    with pytest.raises(ConfigError, match="fallback_function"):
        policy(lambda: 1)
    with pytest.raises(ConfigError, match="fallback_function"):
        policy.call(lambda: 1)


def test_sync_fallback_returning_an_awaitable_is_a_clear_type_error() -> None:
    async def later() -> str:
        return "x"

    policy = Fallback(lambda: later())
    with pytest.raises(TypeError, match="awaitable"):
        policy.call(FlakyCallable([ConnectionError()]))


def test_events_and_stats_by_exception_type(driver: Driver) -> None:
    recorder: RecordingListener[Any] = RecordingListener()
    policy = Fallback(
        lambda: "cached",
        should_fallback_on=[ServiceUnavailableException, TimeoutException],
        fallback_if_result=lambda r: r == "empty",
        name="llm",
        listeners=[recorder],
    )
    driver.run(policy, lambda: "live")
    driver.run(policy, FlakyCallable([TimeoutException()]))
    driver.run(policy, FlakyCallable([TimeoutException()]))
    driver.run(policy, FlakyCallable([ServiceUnavailableException()]))
    driver.run(policy, lambda: "empty")
    with pytest.raises(ValueError):
        driver.run(policy, FlakyCallable([ValueError()]))
    assert [e.error_type for e in recorder.of_type(FallbackUsed)] == [
        "TimeoutException",
        "TimeoutException",
        "ServiceUnavailableException",
        None,
    ]
    assert policy.stats() == {
        "kind": "fallback",
        "name": "llm",
        "calls": 6,
        "successes": 1,
        "fallbacks": 4,
        "failures": 1,
        "by_error": {"ServiceUnavailableException": 1, "TimeoutException": 2},
        "on_result": 1,
    }


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"fallback_function": "cached"}, "fallback_function"),
        ({"should_fallback_on": "TimeoutException"}, "should_fallback_on"),
        ({"should_fallback_on": [int]}, "should_fallback_on"),
        ({"should_fallback_on": [KeyboardInterrupt]}, "should_fallback_on"),
        ({"fallback_if_result": 1}, "fallback_if_result"),
        ({"classifier": "default"}, "classifier"),
        ({"name": ""}, "name"),
        ({"clock": object()}, "clock"),
        ({"listeners": [None]}, "listeners"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    settings: dict[str, Any] = {"fallback_function": lambda: None, **kwargs}
    with pytest.raises(ConfigError, match=parameter) as caught:
        Fallback(**settings)
    assert caught.value.parameter == parameter


def test_threads_sharing_a_fallback_keep_exact_counts() -> None:
    policy = Fallback(lambda n: -1, should_fallback_on=ConnectionError)

    @policy
    def primary(n: int) -> int:
        if n % 3 == 0:
            raise ConnectionError(n)
        return n

    threads_n, calls_each = 8, 2000
    start = threading.Barrier(threads_n)

    def worker() -> None:
        start.wait()
        for n in range(calls_each):
            assert primary(n) == (-1 if n % 3 == 0 else n)

    workers = [threading.Thread(target=worker) for _ in range(threads_n)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    stats = policy.stats()
    per_thread_fallbacks = len(range(0, calls_each, 3))
    assert stats["calls"] == threads_n * calls_each
    assert stats["fallbacks"] == threads_n * per_thread_fallbacks
    assert stats["successes"] == threads_n * (calls_each - per_thread_fallbacks)


async def test_five_hundred_tasks_fall_back_independently() -> None:
    async def fallback(n: int) -> int:
        await asyncio.sleep(0)
        return -n

    @Fallback(fallback)
    async def primary(n: int) -> int:
        await asyncio.sleep(0)
        if n % 2:
            raise ConnectionError(n)
        return n

    results = await asyncio.gather(*(primary(n) for n in range(500)))
    assert results == [-n if n % 2 else n for n in range(500)]
