"""Retry behaviour, one body per calling convention (contract tests), plus concurrency."""

from __future__ import annotations

import asyncio
import functools
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from _drivers import Driver
from rebellion import (
    ConfigError,
    FailureClassifier,
    FailureKind,
    Retry,
    RetryBudget,
    RetryExhaustedError,
    RetryGaveUp,
    RetryScheduled,
    RetryState,
    RetrySucceeded,
    get_retry_policy,
)
from rebellion.testing import FlakyCallable, ManualClock, RecordingListener


class SpyClock:
    """A ManualClock that also counts reads and tells sync sleeps from async ones."""

    def __init__(self) -> None:
        self.inner = ManualClock()
        self.reads = 0
        self.calls: list[str] = []

    @property
    def sleeps(self) -> list[float]:
        return self.inner.sleeps

    def monotonic(self) -> float:
        self.reads += 1
        return self.inner.monotonic()

    def wall(self) -> float:
        return self.inner.wall()

    def sleep(self, seconds: float) -> None:
        self.calls.append("sleep")
        self.inner.sleep(seconds)

    async def sleep_async(self, seconds: float) -> None:
        self.calls.append("sleep_async")
        await self.inner.sleep_async(seconds)

    def call_later(self, delay: float, callback: Callable[[], object]) -> Any:
        return self.inner.call_later(delay, callback)


class Throttled(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after}")
        self.retry_after = retry_after


def quick(clock: Any = None, **settings: Any) -> Retry:
    """A policy with deterministic delays 0.1, 0.2, 0.4, ... on a virtual clock."""
    options: dict[str, Any] = {"max_attempts": 3, "initial_delay": 0.1, "jitter": "none"}
    options.update(settings)
    return Retry(clock=clock or ManualClock(), **options)


# -- the success path -------------------------------------------------------------------


def test_first_success_never_reads_the_clock_nor_sleeps(driver: Driver) -> None:
    clock = SpyClock()
    policy = quick(clock)
    assert driver.run(policy, lambda x: x * 2, 21) == 42
    assert (clock.reads, clock.calls) == (0, [])
    assert policy.stats()["successes"] == 1


def test_decorator_keeps_the_function_metadata() -> None:
    policy = quick()

    @policy
    def fetch(key: str) -> str:
        """Fetch it."""
        return key

    @policy
    async def afetch(key: str) -> str:
        return key

    assert (fetch.__name__, fetch.__doc__, fetch("k")) == ("fetch", "Fetch it.", "k")
    assert afetch.__name__ == "afetch"
    assert asyncio.run(afetch("k")) == "k"


# -- retrying and backoff -------------------------------------------------------------


def test_retries_until_success_with_exponential_backoff(driver: Driver) -> None:
    clock = ManualClock()
    flaky = FlakyCallable([ConnectionError(), TimeoutError(), OSError()], then="ok")
    assert driver.run(quick(clock, max_attempts=4), flaky, "arg", key=1) == "ok"
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4])
    assert flaky.calls == 4
    assert flaky.args == [(("arg",), {"key": 1})] * 4


def expected_delays(jitter: str, seed: int, n: int) -> list[float]:
    """The schedule for initial 0.5, factor 2, cap 3, computed here from scratch."""
    rng = random.Random(seed)
    delays, previous = [], 0.5
    for attempt in range(1, n + 1):
        base = min(3.0, 0.5 * 2.0 ** (attempt - 1))
        if jitter == "none":
            delay = base
        elif jitter == "full":
            delay = rng.uniform(0.0, base)
        elif jitter == "equal":
            delay = base / 2 + rng.uniform(0.0, base / 2)
        else:
            delay = previous = min(3.0, rng.uniform(0.5, previous * 3))
        delays.append(delay)
    return delays


@pytest.mark.parametrize("jitter", ["none", "full", "equal", "decorrelated"])
def test_backoff_sleeps_follow_the_jitter_kind(driver: Driver, jitter: str) -> None:
    clock = ManualClock()
    policy = Retry(
        max_attempts=7, initial_delay=0.5, max_delay=3.0, jitter=jitter, seed=1234, clock=clock
    )
    flaky = FlakyCallable([ConnectionError()] * 6, then="done")
    assert driver.run(policy, flaky) == "done"
    assert clock.sleeps == pytest.approx(expected_delays(jitter, 1234, 6))


def test_zero_delay_never_sleeps(driver: Driver) -> None:
    clock = SpyClock()
    flaky = FlakyCallable([ConnectionError()] * 2, then=1)
    assert driver.run(quick(clock, initial_delay=0.0), flaky) == 1
    assert clock.calls == []


def test_sync_callers_sleep_with_sleep_and_async_callers_with_sleep_async(driver: Driver) -> None:
    clock = SpyClock()
    driver.run(quick(clock), FlakyCallable([ConnectionError()], then=1))
    assert clock.calls == ["sleep_async" if driver.is_async else "sleep"]


# -- giving up ------------------------------------------------------------------------


def test_gives_up_after_max_attempts_from_the_last_error(driver: Driver) -> None:
    errors = [ConnectionError("one"), ConnectionError("two"), ConnectionError("three")]
    policy = quick(name="fetch")
    with pytest.raises(RetryExhaustedError) as caught:
        driver.run(policy, FlakyCallable(errors))
    assert caught.value.__cause__ is errors[-1]
    assert caught.value.last_error is errors[-1]
    assert (caught.value.policy, caught.value.attempts, caught.value.reason) == (
        "fetch",
        3,
        "attempts",
    )
    assert caught.value.last_result is None


def test_non_retryable_error_propagates_unchanged_at_once(driver: Driver) -> None:
    clock = ManualClock()
    error = ValueError("bad request")
    flaky = FlakyCallable([error], then="never")
    with pytest.raises(ValueError) as caught:
        driver.run(quick(clock, retry_on=[ConnectionError]), flaky)
    assert caught.value is error
    assert (flaky.calls, clock.sleeps) == (1, [])


def test_a_non_retryable_error_on_a_later_attempt_also_propagates(driver: Driver) -> None:
    error = KeyError("gone")
    policy = quick(retry_on=ConnectionError)
    with pytest.raises(KeyError) as caught:
        driver.run(policy, FlakyCallable([ConnectionError(), error]))
    assert caught.value is error
    assert policy.stats()["failures"] == 1
    assert policy.stats()["gave_up"] == {}


def test_retry_if_must_also_hold(driver: Driver) -> None:
    policy = quick(retry_if=lambda error: "again" in str(error))
    flaky = FlakyCallable([RuntimeError("try again")], then="ok")
    assert driver.run(policy, flaky) == "ok"
    with pytest.raises(RuntimeError, match="fatal"):
        driver.run(policy, FlakyCallable([RuntimeError("fatal")]))


def test_classifier_decides_what_is_retryable(driver: Driver) -> None:
    classifier = FailureClassifier().with_rule(LookupError, FailureKind.PERMANENT)
    policy = quick(classifier=classifier)
    assert driver.run(policy, FlakyCallable([ConnectionError()], then="ok")) == "ok"
    with pytest.raises(KeyError):
        driver.run(policy, FlakyCallable([KeyError("id")], then="ok"))
    with pytest.raises(TypeError):  # a programming error is PERMANENT by default
        driver.run(policy, FlakyCallable([TypeError("bug")], then="ok"))


def test_retries_on_rejected_results_and_gives_up_with_the_last_result(driver: Driver) -> None:
    clock = ManualClock()
    policy = quick(clock, retry_if_result=lambda result: result in (None, "pending"))
    assert driver.run(policy, FlakyCallable([None, "pending"], then=5)) == 5
    assert clock.sleeps == pytest.approx([0.1, 0.2])
    with pytest.raises(RetryExhaustedError) as caught:
        driver.run(policy, FlakyCallable([None, None, "pending"], then=9))
    assert caught.value.last_result == "pending"
    assert caught.value.__cause__ is None
    assert (caught.value.attempts, caught.value.reason) == (3, "attempts")


def test_classifier_result_rule_retries_results(driver: Driver) -> None:
    def rule(result: Any) -> FailureKind | None:
        return FailureKind.SERVER_ERROR if result == 503 else None

    policy = quick(classifier=FailureClassifier(result_rule=rule))
    assert driver.run(policy, FlakyCallable([503, 503], then=200)) == 200


def test_cancellation_and_interrupts_are_never_retried(driver: Driver) -> None:
    for error in (KeyboardInterrupt(), asyncio.CancelledError()):
        flaky = FlakyCallable([error], then="never")
        with pytest.raises(type(error)):
            driver.run(quick(), flaky)
        assert flaky.calls == 1


# -- retry-after, deadline, budget ----------------------------------------------------


def test_retry_after_hint_lengthens_the_delay(driver: Driver) -> None:
    clock = ManualClock()
    policy = quick(clock, max_delay=5.0)
    flaky = FlakyCallable([Throttled(1.5), Throttled(0.05)], then="ok")
    assert driver.run(policy, flaky) == "ok"
    # max(backoff, hint): 1.5 beats 0.1; the 0.2 backoff beats a 0.05 hint.
    assert clock.sleeps == pytest.approx([1.5, 0.2])


def test_retry_after_header_is_honoured(driver: Driver) -> None:
    class Http503(Exception):
        status_code = 503
        headers = {"Retry-After": "2"}

    clock = ManualClock()
    assert driver.run(quick(clock, max_delay=3.0), FlakyCallable([Http503()], then=1)) == 1
    assert clock.sleeps == [2.0]


def test_retry_after_beyond_max_delay_stops_retrying(driver: Driver) -> None:
    clock = ManualClock()
    error = Throttled(60.0)
    with pytest.raises(RetryExhaustedError) as caught:
        driver.run(quick(clock, max_delay=10.0), FlakyCallable([error], then="ok"))
    assert (caught.value.reason, caught.value.attempts) == ("retry_after", 1)
    assert caught.value.__cause__ is error
    assert clock.sleeps == []


def test_deadline_is_never_slept_past(driver: Driver) -> None:
    clock = ManualClock()
    policy = Retry(
        max_attempts=10, initial_delay=1.0, max_delay=60.0, jitter="none", deadline=5.0, clock=clock
    )
    with pytest.raises(RetryExhaustedError) as caught:
        driver.run(policy, FlakyCallable([ConnectionError()] * 10))
    # Sleeps 1 and 2 fit (t=3); the next 4 s would end at t=7, past the 5 s deadline.
    assert clock.sleeps == [1.0, 2.0]
    assert (caught.value.reason, caught.value.attempts) == ("deadline", 3)
    assert clock.monotonic() <= 5.0


def test_deadline_counts_from_the_start_of_the_first_attempt(driver: Driver) -> None:
    clock = ManualClock()

    def slow_failure() -> None:
        clock.advance(3.0)
        raise ConnectionError("slow")

    policy = quick(clock, max_attempts=10, initial_delay=1.0, deadline=5.0)
    with pytest.raises(RetryExhaustedError) as caught:
        driver.run(policy, slow_failure)
    assert clock.sleeps == [1.0]
    assert (caught.value.reason, caught.value.attempts) == ("deadline", 2)


def test_exhausted_budget_stops_retrying(driver: Driver) -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio=0, min_retries_per_second=0.1, ttl=10, clock=clock)
    policy = quick(clock, budget=budget)
    assert driver.run(policy, FlakyCallable([ConnectionError()], then="ok")) == "ok"
    error = ConnectionError("again")
    with pytest.raises(RetryExhaustedError) as caught:
        driver.run(policy, FlakyCallable([error], then="ok"))
    assert (caught.value.reason, caught.value.attempts) == ("budget", 1)
    assert caught.value.__cause__ is error
    stats = policy.stats()
    assert stats["gave_up"] == {"budget": 1}
    assert stats["budget"]["window_requests"] == 2
    assert (stats["budget"]["withdrawn"], stats["budget"]["refused"]) == (1, 1)


def test_one_budget_is_shared_by_several_policies(driver: Driver) -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio=0.5, min_retries_per_second=0, ttl=10, clock=clock)
    first, second = quick(clock, budget=budget), quick(clock, budget=budget, name="other")
    driver.run(first, lambda: 1)
    assert driver.run(second, FlakyCallable([ConnectionError()], then=2)) == 2
    with pytest.raises(RetryExhaustedError, match="budget"):
        driver.run(first, FlakyCallable([ConnectionError()], then=3))
    assert budget.stats()["window_requests"] == 3


# -- hooks and events -------------------------------------------------------------------


def test_hooks_receive_the_retry_state(driver: Driver) -> None:
    seen: list[tuple[str, RetryState]] = []
    e1, e2 = ConnectionError("1"), ConnectionError("2")
    policy = quick(
        max_attempts=2,
        before_sleep=lambda s: seen.append(("before_sleep", s)),
        on_retry=lambda s: seen.append(("on_retry", s)),
        on_give_up=lambda s: seen.append(("on_give_up", s)),
    )
    with pytest.raises(RetryExhaustedError):
        driver.run(policy, FlakyCallable([e1, e2]))
    first = RetryState(attempt=1, delay=0.1, error=e1, result=None, elapsed=0.0)
    assert seen[:2] == [("before_sleep", first), ("on_retry", first)]
    last = seen[2]
    assert last[0] == "on_give_up"
    assert (last[1].attempt, last[1].delay, last[1].error) == (2, 0.0, e2)
    assert last[1].elapsed == pytest.approx(0.1)


def test_async_hooks_are_awaited_for_async_callees() -> None:
    seen: list[int] = []

    async def before_sleep(state: RetryState) -> None:
        await asyncio.sleep(0)
        seen.append(state.attempt)

    policy = quick(before_sleep=before_sleep)
    flaky = FlakyCallable([ConnectionError(), ConnectionError()], then="ok")
    assert asyncio.run(policy.execute(flaky.async_call)) == "ok"
    assert seen == [1, 2]


def test_async_hooks_are_refused_for_sync_callees() -> None:
    async def on_retry(state: RetryState) -> None: ...

    policy = quick(on_retry=on_retry)
    with pytest.raises(ConfigError, match="on_retry"):
        policy(lambda: 1)
    with pytest.raises(TypeError, match="on_retry"):
        policy.call(FlakyCallable([ConnectionError()], then=1))


def test_events_tell_the_story(driver: Driver) -> None:
    recorder: RecordingListener[Any] = RecordingListener()
    policy = quick(name="story", listeners=[recorder])
    driver.run(policy, lambda: "first try")
    assert recorder.events == []
    driver.run(policy, FlakyCallable([ConnectionError(), ConnectionError()], then=1))
    assert recorder.names() == ["RetryScheduled", "RetryScheduled", "RetrySucceeded"]
    scheduled = recorder.of_type(RetryScheduled)
    assert [(e.attempt, e.delay, e.error_type) for e in scheduled] == [
        (1, 0.1, "ConnectionError"),
        (2, pytest.approx(0.2), "ConnectionError"),
    ]
    succeeded = recorder.of_type(RetrySucceeded)[0]
    assert (succeeded.source, succeeded.attempts) == ("story", 3)
    assert succeeded.elapsed == pytest.approx(0.3)
    recorder.clear()
    with pytest.raises(RetryExhaustedError):
        driver.run(policy, FlakyCallable([OSError()] * 3))
    gave_up = recorder.of_type(RetryGaveUp)
    assert [(e.attempts, e.reason, e.error_type) for e in gave_up] == [(3, "attempts", "OSError")]


def test_stats_count_every_outcome(driver: Driver) -> None:
    policy = quick(retry_on=ConnectionError)
    driver.run(policy, lambda: 1)
    driver.run(policy, FlakyCallable([ConnectionError()], then=1))
    with pytest.raises(RetryExhaustedError):
        driver.run(policy, FlakyCallable([ConnectionError()] * 3))
    with pytest.raises(ValueError):
        driver.run(policy, FlakyCallable([ValueError()]))
    stats = policy.stats()
    assert {k: stats[k] for k in ("calls", "successes", "failures", "retries", "gave_up")} == {
        "calls": 4,
        "successes": 2,
        "failures": 2,
        "retries": 3,
        "gave_up": {"attempts": 1},
    }
    assert (stats["kind"], stats["name"], stats["max_attempts"]) == ("retry", "retry", 3)


# -- configuration --------------------------------------------------------------------


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBELLION_RETRY_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("REBELLION_RETRY_JITTER", "equal")
    policy = Retry()
    assert (policy.max_attempts, policy.backoff.jitter) == (5, "equal")
    assert (policy.backoff.initial_delay, policy.backoff.max_delay) == (0.1, 2.0)
    assert Retry(max_attempts=2).max_attempts == 2


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"initial_delay": -1}, "initial_delay"),
        ({"initial_delay": 3.0, "max_delay": 1.0}, "initial_delay"),
        ({"max_delay": -1}, "max_delay"),
        ({"backoff_factor": 0.9}, "backoff_factor"),
        ({"jitter": "gaussian"}, "jitter"),
        ({"deadline": 0}, "deadline"),
        ({"deadline": "5"}, "deadline"),
        ({"retry_on": "ConnectionError"}, "retry_on"),
        ({"retry_on": [int]}, "retry_on"),
        ({"retry_on": [KeyboardInterrupt]}, "retry_on"),
        ({"retry_on": asyncio.CancelledError}, "retry_on"),
        ({"retry_if": True}, "retry_if"),
        ({"retry_if_result": "None"}, "retry_if_result"),
        ({"budget": 20}, "budget"),
        ({"classifier": {}}, "classifier"),
        ({"before_sleep": 1}, "before_sleep"),
        ({"on_retry": "log"}, "on_retry"),
        ({"on_give_up": 0.5}, "on_give_up"),
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({"clock": "system"}, "clock"),
        ({"seed": "42"}, "seed"),
        ({"seed": 1, "rng": random.Random(1)}, "seed"),
        ({"rng": 42}, "rng"),
        ({"listeners": [42]}, "listeners"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter) as caught:
        Retry(**kwargs)
    assert caught.value.parameter == parameter


def test_named_policies_are_shared_and_conflicts_refused() -> None:
    policy = get_retry_policy("payments", max_attempts=4, initial_delay=0.0)
    assert get_retry_policy("payments", max_attempts=4, initial_delay=0.0) is policy
    assert get_retry_policy("payments") is policy
    assert (policy.name, policy.max_attempts) == ("payments", 4)
    with pytest.raises(ConfigError, match="max_attempts"):
        get_retry_policy("payments", max_attempts=5)
    with pytest.raises(ConfigError, match="name"):
        get_retry_policy("")
    assert get_retry_policy("search") is not policy


# -- concurrency ----------------------------------------------------------------------


def fails_first(times: int) -> Callable[[], str]:
    """A fresh callee that fails ``times`` times, then answers."""
    left = [times]

    def fn() -> str:
        if left[0] > 0:
            left[0] -= 1
            raise ConnectionError("flaky")
        return "ok"

    return fn


def test_threads_sharing_a_policy_and_budget_keep_exact_counts() -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio=0.1, min_retries_per_second=0, ttl=10, clock=clock)
    policy = Retry(max_attempts=3, initial_delay=0.0, budget=budget, clock=clock)
    threads_n, calls_each = 8, 400
    outcomes: list[dict[str, int]] = [{} for _ in range(threads_n)]
    start = threading.Barrier(threads_n)

    def worker(slot: int) -> None:
        start.wait()
        tally = outcomes[slot]
        for i in range(calls_each):
            try:
                policy.call(fails_first(2 if i % 8 == 0 else 1 if i % 4 == 0 else 0))
                tally["ok"] = tally.get("ok", 0) + 1
            except RetryExhaustedError as error:
                tally[error.reason] = tally.get(error.reason, 0) + 1

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads_n)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()

    stats = policy.stats()
    total = threads_n * calls_each
    assert stats["calls"] == total
    assert stats["successes"] == sum(t.get("ok", 0) for t in outcomes)
    assert stats["failures"] == sum(t.get("budget", 0) for t in outcomes) > 0
    assert stats["gave_up"] == {"budget": stats["failures"]}
    assert stats["retries"] == stats["budget"]["withdrawn"]
    assert stats["budget"]["refused"] == stats["failures"]
    assert stats["budget"]["window_requests"] == total
    assert stats["retries"] <= total // 10


async def test_five_hundred_tasks_retry_independently() -> None:
    clock = ManualClock()
    policy = quick(clock, initial_delay=0.01)
    flaky = {n: FlakyCallable([ConnectionError()], then=n) for n in range(500)}

    results = await asyncio.gather(*(policy.execute(flaky[n].async_call) for n in range(500)))

    assert results == list(range(500))
    assert all(f.calls == 2 for f in flaky.values())
    stats = policy.stats()
    assert (stats["calls"], stats["successes"], stats["retries"]) == (500, 500, 500)
    assert clock.sleeps == [0.01] * 500


async def test_decorated_coroutines_run_concurrently() -> None:
    clock = ManualClock()
    policy = quick(clock)
    attempts: dict[int, int] = {}

    @policy
    async def fetch(n: int) -> int:
        attempts[n] = attempts.get(n, 0) + 1
        await asyncio.sleep(0)
        if attempts[n] < 2:
            raise ConnectionError(n)
        return n

    assert await asyncio.gather(*(fetch(n) for n in range(200))) == list(range(200))
    assert policy.stats()["retries"] == 200


def test_call_and_execute_accept_partials() -> None:
    policy = quick()
    add = functools.partial(lambda a, b: a + b, 1)
    assert policy.call(add, 2) == 3
    assert asyncio.run(policy.execute(add, 3)) == 4


# -- run-time switch ---------------------------------------------------------------------


def test_suspended_retry_makes_exactly_one_attempt(driver: Driver) -> None:
    clock = ManualClock()
    policy = quick(clock, max_attempts=5)
    policy.suspend()
    flaky = FlakyCallable([ConnectionError("down")], then="ok")
    with pytest.raises(RetryExhaustedError) as caught:
        driver.run(policy, flaky)
    assert (flaky.calls, clock.sleeps) == (1, [])
    assert (caught.value.reason, caught.value.attempts) == ("suspended", 1)
    assert isinstance(caught.value.__cause__, ConnectionError)
    stats = policy.stats()
    assert stats["gave_up"] == {"suspended": 1}
    assert stats["suspended"] is True


def test_resumed_retry_retries_again(driver: Driver) -> None:
    policy = quick(max_attempts=3)
    policy.suspend()
    policy.resume()
    assert not policy.suspended
    flaky = FlakyCallable([ConnectionError(), ConnectionError()], then="ok")
    assert driver.run(policy, flaky) == "ok"
    assert flaky.calls == 3


def test_suspended_retry_lets_successes_and_non_retryable_errors_through(driver: Driver) -> None:
    policy = quick(retry_on=ConnectionError)
    policy.suspend()
    assert driver.run(policy, lambda: "fine") == "fine"
    with pytest.raises(KeyError):
        driver.run(policy, FlakyCallable([KeyError("k")]))


def test_suspensions_nest_and_extra_resumes_are_harmless() -> None:
    policy = quick()
    policy.suspend()
    policy.suspend()
    policy.resume()
    assert policy.suspended
    policy.resume()
    policy.resume()
    assert not policy.suspended
    policy.suspend()
    assert policy.suspended


async def test_suspending_stops_a_call_that_is_between_attempts() -> None:
    clock = ManualClock(auto_advance=False)
    policy = quick(clock, max_attempts=5)
    flaky = FlakyCallable([ConnectionError()] * 10, then="ok")
    task = asyncio.create_task(policy.execute(flaky.async_call))
    await clock.advance_async(0)  # first attempt failed; sleeping 0.1s
    assert flaky.calls == 1
    policy.suspend()
    await clock.advance_async(0.1)
    with pytest.raises(RetryExhaustedError) as caught:
        await task
    assert (flaky.calls, caught.value.reason) == (2, "suspended")


def test_suspended_success_path_reads_no_clock(driver: Driver) -> None:
    clock = SpyClock()
    policy = quick(clock)
    policy.suspend()
    assert driver.run(policy, lambda: 1) == 1
    assert (clock.reads, clock.calls) == (0, [])
