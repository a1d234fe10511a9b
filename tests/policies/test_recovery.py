"""Error recovery: strategies, rules, history, decorator, concurrency and bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rebellion.errors import CircuitOpenError, ConfigError, RetryExhaustedError
from rebellion.policies.classify import FailureKind
from rebellion.policies.recovery import (
    ErrorHandled,
    ErrorRecord,
    ErrorRecovery,
    ErrorSeverity,
    RecoveryContext,
    RecoveryFailed,
    error_recovery,
    with_error_recovery,
)
from rebellion.testing import FlakyCallable, ManualClock, RecordingListener


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def recovery(clock: ManualClock) -> ErrorRecovery:
    return ErrorRecovery(clock=clock, initial_delay=0.1, max_delay=1.0, jitter="none")


@pytest.fixture(autouse=True)
def _clean_shared_instance() -> Any:
    error_recovery.clear_history()
    yield
    error_recovery.clear_history()


# -- the seed snippets, verbatim -------------------------------------------------------


async def test_seed_snippets_work_as_written() -> None:
    calls: list[str] = []

    @with_error_recovery(component="websocket", operation="connect", severity=ErrorSeverity.HIGH)
    async def connect_websocket(url):  # type: ignore[no-untyped-def]
        calls.append(url)
        return f"connected to {url}"

    assert await connect_websocket("ws://hamster") == "connected to ws://hamster"

    flaky = FlakyCallable([ValueError("wobble"), ValueError("wobble")], then="fine")

    async def my_function(*args: Any, **kwargs: Any) -> Any:
        return await flaky.async_call(*args, **kwargs)

    args = ("a",)
    kwargs = {"b": 1}
    error_recovery.configure("my_component", initial_delay=0.0, max_delay=0.0)
    try:
        result = await my_function()
    except Exception as e:
        result = await error_recovery.handle_error(
            error=e,
            component="my_component",
            operation="my_operation",
            severity=ErrorSeverity.MEDIUM,
            original_function=my_function,
            *args,  # noqa: B026 - the seed document's call, verbatim
            **kwargs,
        )
    assert result == "fine"
    assert flaky.args[1:] == [(("a",), {"b": 1})] * 2
    stats = error_recovery.get_error_statistics()
    assert stats["by_operation"] == {"my_component.my_operation": 1}
    assert stats["recovered"] == 1


# -- strategies --------------------------------------------------------------------------


def test_retry_recovers_a_flaky_function_with_backoff(
    recovery: ErrorRecovery, clock: ManualClock
) -> None:
    flaky = FlakyCallable([ConnectionError(), ConnectionError(), ConnectionError()], then="ok")
    with pytest.raises(ConnectionError) as caught:
        flaky(1, key="v")
    result = recovery.handle_error_sync(
        1, error=caught.value, component="db", operation="query", original_function=flaky, key="v"
    )
    assert result == "ok"
    assert clock.sleeps == [0.1, 0.2, 0.4]
    assert flaky.args[-1] == ((1,), {"key": "v"})
    (record,) = recovery.get_error_history()
    assert (record.strategy, record.recovered, record.attempts) == ("retry", True, 3)


async def test_retry_honours_retry_after_hint(recovery: ErrorRecovery, clock: ManualClock) -> None:
    class Throttled(Exception):
        retry_after = 0.75

    flaky = FlakyCallable([], then="ok")
    result = await recovery.handle_error(
        error=Throttled(), component="api", operation="get", original_function=flaky.async_call
    )
    assert result == "ok"
    assert clock.sleeps == [0.75]


async def test_retry_exhaustion_falls_through_to_fallback(recovery: ErrorRecovery) -> None:
    recovery.configure("db", max_retries=2, fallback=lambda *a, **k: ("cached", a, k))
    flaky = FlakyCallable([], then=ConnectionError("down"))
    result = await recovery.handle_error(
        7, error=ConnectionError("down"), component="db", operation="q", original_function=flaky
    )
    assert result == ("cached", (7,), {})
    assert flaky.calls == 2
    (record,) = recovery.get_error_history()
    assert record.strategies == ("retry", "fallback")
    assert (record.strategy, record.attempts) == ("fallback", 2)


def test_retry_exhaustion_without_fallback_raises_chained_exhausted_error(
    recovery: ErrorRecovery,
) -> None:
    recovery.configure("db", max_retries=1, strategies=["retry"])
    flaky = FlakyCallable([], then=ConnectionError("still down"))
    with pytest.raises(RetryExhaustedError) as caught:
        recovery.handle_error_sync(
            error=ConnectionError("down"), component="db", operation="q", original_function=flaky
        )
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert str(caught.value.__cause__) == "still down"


def test_without_original_function_retry_is_skipped(recovery: ErrorRecovery) -> None:
    recovery.configure("db", fallback=lambda: "fb")
    assert recovery.handle_error_sync(error=TimeoutError(), component="db", operation="q") == "fb"
    assert recovery.get_error_history()[0].strategies == ("fallback",)


def test_circuit_break_opens_after_repeated_errors_then_fails_fast(
    clock: ManualClock,
) -> None:
    recovery = ErrorRecovery(clock=clock, breaker_threshold=3, breaker_reset_timeout=30)
    flaky = FlakyCallable([], then=ConnectionError("down"))
    recovery.configure("ws", strategies=["circuit_break", "retry"], max_retries=1)
    for _ in range(3):
        with pytest.raises(RetryExhaustedError):
            recovery.handle_error_sync(
                error=ConnectionError(), component="ws", operation="send", original_function=flaky
            )
    calls = flaky.calls
    assert recovery.circuit_breaker("ws").state.value == "OPEN"
    with pytest.raises(CircuitOpenError) as caught:
        recovery.handle_error_sync(
            error=ConnectionError("x"), component="ws", operation="send", original_function=flaky
        )
    assert flaky.calls == calls  # failed fast: no retry
    assert caught.value.name == "recovery.ws"
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert recovery.get_component_health("ws")["status"] == "unhealthy"
    # After the wait a recovered error closes the breaker again.
    clock.advance(30)
    healthy = FlakyCallable([], then="back")
    assert (
        recovery.handle_error_sync(
            error=ConnectionError(), component="ws", operation="send", original_function=healthy
        )
        == "back"
    )
    assert recovery.circuit_breaker("ws").state.value == "CLOSED"
    assert recovery.get_component_health("ws")["status"] == "healthy"


def test_critical_severity_adds_circuit_break(recovery: ErrorRecovery) -> None:
    with pytest.raises(TypeError):
        recovery.handle_error_sync(
            error=TypeError("bug"), component="core", operation="run", severity="critical"
        )
    record = recovery.get_error_history()[0]
    assert record.strategies == ("circuit_break", "notify")
    assert recovery.circuit_breaker("core").failure_count == 1


async def test_reset_hook_runs_then_retries_once(recovery: ErrorRecovery) -> None:
    order: list[str] = []

    async def reconnect() -> None:
        order.append("reset")

    def send(msg: str) -> str:
        order.append(f"send {msg}")
        return "sent"

    recovery.configure("ws", "send", strategies=["reset"], reset=reconnect)
    result = await recovery.handle_error(
        "hi", error=ConnectionError(), component="ws", operation="send", original_function=send
    )
    assert result == "sent"
    assert order == ["reset", "send hi"]
    assert recovery.get_error_history()[0].attempts == 1


async def test_notify_calls_sync_and_async_callbacks_then_reraises(
    recovery: ErrorRecovery,
) -> None:
    seen: list[tuple[str, ErrorRecord]] = []

    async def async_cb(record: ErrorRecord) -> None:
        seen.append(("async", record))

    recovery.add_notification_callback(lambda record: seen.append(("sync", record)))
    recovery.add_notification_callback(async_cb)
    error = PermissionError("nope")
    recovery.add_rule(PermissionError, ["notify"])
    with pytest.raises(PermissionError) as caught:
        await recovery.handle_error(error=error, component="fs", operation="open")
    assert caught.value is error
    assert [kind for kind, _ in seen] == ["sync", "async"]
    record = seen[0][1]
    assert (record.component, record.error_type, record.strategy) == (
        "fs",
        "PermissionError",
        "notify",
    )


def test_failing_notification_callback_is_skipped(recovery: ErrorRecovery) -> None:
    seen: list[ErrorRecord] = []

    def broken(record: ErrorRecord) -> None:
        raise RuntimeError("callback bug")

    recovery.add_notification_callback(broken)
    remove = recovery.add_notification_callback(seen.append)
    with pytest.raises(KeyError):
        recovery.handle_error_sync(
            error=KeyError("k"), component="c", operation="o", severity="low"
        )
    assert len(seen) == 1
    remove()
    with pytest.raises(TypeError):
        recovery.handle_error_sync(error=TypeError(), component="c", operation="o")
    assert len(seen) == 1


async def test_user_registered_strategy_receives_frozen_context(recovery: ErrorRecovery) -> None:
    contexts: list[RecoveryContext] = []

    async def cached(ctx: RecoveryContext) -> str:
        contexts.append(ctx)
        return f"cached {ctx.args[0]}"

    recovery.register_strategy("cache", cached)
    recovery.add_rule(FailureKind.SERVER_ERROR, ["cache"])

    class Http503(Exception):
        status_code = 503

    result = await recovery.handle_error(
        "k1", error=Http503(), component="cdn", operation="get", severity=ErrorSeverity.LOW
    )
    assert result == "cached k1"
    ctx = contexts[0]
    assert (ctx.component, ctx.operation, ctx.severity, ctx.attempt) == (
        "cdn",
        "get",
        ErrorSeverity.LOW,
        0,
    )
    with pytest.raises(AttributeError):
        ctx.attempt = 3  # type: ignore[misc]
    assert "cache" in recovery.strategies


def test_declining_user_strategy_falls_through(recovery: ErrorRecovery) -> None:
    def decline(ctx: RecoveryContext) -> Any:
        raise LookupError("no")

    recovery.register_strategy("decline", decline)
    recovery.configure("c", strategies=["decline", "fallback"], fallback=lambda: 1)
    assert recovery.handle_error_sync(error=ValueError(), component="c", operation="o") == 1


def test_cancellation_is_never_recovered(recovery: ErrorRecovery) -> None:
    with pytest.raises(asyncio.CancelledError):
        recovery.handle_error_sync(error=asyncio.CancelledError(), component="c", operation="o")
    assert recovery.get_error_statistics()["total_errors"] == 0


# -- history, statistics, events --------------------------------------------------------


def test_statistics_per_component_operation_severity_exact(clock: ManualClock) -> None:
    recovery = ErrorRecovery(clock=clock, history_size=3)
    recovery.configure("db", fallback=lambda: "fb")
    cases = [
        ("db", "read", "low", ValueError()),
        ("db", "read", "medium", ValueError()),
        ("db", "write", "high", TimeoutError()),
        ("api", "get", "critical", TypeError()),
        ("api", "get", ErrorSeverity.HIGH, KeyError()),
    ]
    for component, operation, severity, error in cases:
        try:
            recovery.handle_error_sync(
                error=error, component=component, operation=operation, severity=severity
            )
        except Exception:
            pass
    stats = recovery.get_error_statistics(recent=2)
    assert stats["total_errors"] == 5
    assert stats["recovered"] == 3
    assert stats["recovery_rate"] == pytest.approx(0.6)
    assert stats["by_component"] == {"db": 3, "api": 2}
    assert stats["by_operation"] == {"db.read": 2, "db.write": 1, "api.get": 2}
    assert stats["by_severity"] == {"low": 1, "medium": 1, "high": 2, "critical": 1}
    assert stats["by_error_type"] == {
        "ValueError": 2,
        "TimeoutError": 1,
        "TypeError": 1,
        "KeyError": 1,
    }
    assert stats["history_size"] == 3
    assert [e["error_type"] for e in stats["recent_errors"]] == ["TypeError", "KeyError"]
    health = recovery.get_component_health("db")
    assert (health["total_errors"], health["recovered"], health["status"]) == (3, 3, "healthy")
    assert recovery.get_component_health("api")["status"] == "degraded"
    assert recovery.get_component_health("never")["total_errors"] == 0
    assert recovery.stats()["kind"] == "error_recovery"


def test_events_are_emitted(recovery: ErrorRecovery) -> None:
    listener: RecordingListener[Any] = RecordingListener()
    recovery.subscribe(listener)
    with pytest.raises(TypeError):
        recovery.handle_error_sync(error=TypeError(), component="c", operation="o")
    handled = listener.of_type(ErrorHandled)
    failed = listener.of_type(RecoveryFailed)
    assert [e.recovered for e in handled] == [False]
    assert failed[0].raised_type == "TypeError"
    assert failed[0].source == "error_recovery"


# -- decorator -----------------------------------------------------------------------------


def test_sync_decorator_recovers_and_keeps_metadata(recovery: ErrorRecovery) -> None:
    flaky = FlakyCallable([ConnectionError()], then="pong")

    @with_error_recovery(component="net", recovery=recovery)
    def ping(host: str) -> object:
        """Ping a host."""
        return flaky(host)

    assert ping("h") == "pong"
    assert ping.__name__ == "ping"
    assert ping.__doc__ == "Ping a host."
    record = recovery.get_error_history()[0]
    assert (record.operation, record.severity) == ("ping", ErrorSeverity.HIGH)


async def test_async_decorator_with_exact_strategies(recovery: ErrorRecovery) -> None:
    recovery.configure("net", fallback=lambda host: f"offline {host}")

    @with_error_recovery(
        component="net", operation="fetch", recovery=recovery, strategies=["fallback"]
    )
    async def fetch(host: str) -> str:
        raise ConnectionError(host)

    assert await fetch("h") == "offline h"
    assert recovery.get_error_history()[0].strategies == ("fallback",)


def test_decorator_kwargs_named_like_handle_error_parameters(recovery: ErrorRecovery) -> None:
    flaky = FlakyCallable([ConnectionError()], then="ok")

    @with_error_recovery(component="c", operation="o", recovery=recovery)
    def job(component: str, error: str) -> object:
        return flaky(component=component, error=error)

    assert job(component="x", error="y") == "ok"
    assert flaky.args[-1] == ((), {"component": "x", "error": "y"})


# -- concurrency -----------------------------------------------------------------------------


async def test_200_concurrent_tasks_keep_exact_counts(clock: ManualClock) -> None:
    recovery = ErrorRecovery(clock=clock, initial_delay=0.0, max_delay=0.0, history_size=150)

    async def one(i: int) -> object:
        flaky = FlakyCallable([ConnectionError()] * (i % 3), then=i)
        component = f"c{i % 4}"
        if i % 5 == 0:
            with pytest.raises(TypeError):
                await recovery.handle_error(error=TypeError(), component=component, operation="op")
            return None
        return await recovery.handle_error(
            error=ConnectionError(),
            component=component,
            operation="op",
            original_function=flaky.async_call,
        )

    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert [r for r in results if r is not None] == [i for i in range(200) if i % 5]
    stats = recovery.get_error_statistics()
    assert stats["total_errors"] == 200
    assert stats["recovered"] == 160
    assert stats["by_component"] == {f"c{k}": 50 for k in range(4)}
    assert stats["by_error_type"] == {"ConnectionError": 160, "TypeError": 40}
    assert stats["history_size"] == 150


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"history_size": 0}, "history_size"),
        ({"max_retries": -1}, "max_retries"),
        ({"jitter": "lots"}, "jitter"),
        ({"initial_delay": 5.0, "max_delay": 1.0}, "initial_delay"),
        ({"clock": object()}, "clock"),
        ({"classifier": "x"}, "classifier"),
        ({"breaker_threshold": 0}, "breaker_threshold"),
        ({"breaker_reset_timeout": -1}, "breaker_reset_timeout"),
        ({"seed": "s"}, "seed"),
        ({"name": ""}, "name"),
    ],
)
def test_constructor_rejects_bad_input(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError, match=f"^{parameter} must be"):
        ErrorRecovery(**kwargs)


def test_configure_and_registration_reject_bad_input(recovery: ErrorRecovery) -> None:
    with pytest.raises(ConfigError, match=r"strategies must be strategy names among .*'retry'"):
        recovery.configure("c", strategies=["retry", "pray"])
    with pytest.raises(ConfigError, match=r"^max_retries must be"):
        recovery.configure("c", max_retries=-2)
    with pytest.raises(ConfigError, match=r"^fallback must be"):
        recovery.configure("c", fallback="nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^reset must be"):
        recovery.configure("c", reset=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^component must be"):
        recovery.configure("")
    with pytest.raises(ConfigError, match=r"^initial_delay must be"):
        recovery.configure("c", initial_delay=10.0)
    with pytest.raises(ConfigError, match=r"^name must be"):
        recovery.register_strategy("retry", lambda ctx: None)
    with pytest.raises(ConfigError, match=r"^fn must be"):
        recovery.register_strategy("mine", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^fn must be"):
        recovery.add_notification_callback(None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^match must be"):
        recovery.add_rule("ValueError", ["retry"])  # type: ignore[arg-type]


async def test_handle_error_rejects_bad_input(recovery: ErrorRecovery) -> None:
    with pytest.raises(ConfigError, match=r"^error must be"):
        await recovery.handle_error(error="boom", component="c", operation="o")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^severity must be .*'critical'"):
        await recovery.handle_error(
            error=ValueError(), component="c", operation="o", severity="dire"
        )
    with pytest.raises(ConfigError, match=r"^operation must be"):
        await recovery.handle_error(error=ValueError(), component="c", operation=" o")
    with pytest.raises(ConfigError, match=r"^original_function must be"):
        await recovery.handle_error(
            error=ValueError(),
            component="c",
            operation="o",
            original_function=5,  # type: ignore[arg-type]
        )
    with pytest.raises(ConfigError, match=r"^recovery must be"):
        with_error_recovery(component="c", recovery="x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^strategies must be"):
        with_error_recovery(component="c", strategies=["nope"])
    assert recovery.get_error_statistics()["total_errors"] == 0


async def test_sync_handling_of_async_function_inside_a_loop_is_refused(
    recovery: ErrorRecovery,
) -> None:
    async def fn() -> str:
        return "x"

    with pytest.raises(TypeError, match=r"await error_recovery.handle_error"):
        recovery.handle_error_sync(
            error=ConnectionError(), component="c", operation="o", original_function=fn
        )
