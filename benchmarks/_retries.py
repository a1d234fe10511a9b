"""Retry and pipeline groups: success path, one failure then success, 4-policy pipeline.

Every retry contender allows 3 attempts with no delay between them (rebellion
``initial_delay=0.0, jitter="none"``, tenacity ``wait_none()``, backoff ``constant``
with ``interval=0, jitter=None``, pyresilience ``delay=0.0, jitter=False``), and the
peers retry on the callee's own error type, which is their idiomatic configuration.

>>> [g.name for g in groups()]
['retry_success', 'retry_failure_then_success', 'pipeline_async']
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

from _common import (
    BenchError,
    Contender,
    Flaky,
    Group,
    ainc,
    async_passthrough,
    baseline_contenders,
    fallback_value,
    inc,
    passthrough,
)
from _harness import Op, Runner, Unavailable

__all__ = ["groups"]

_OK: dict[str, Any] = {"args": (1,), "returns": 2}
_names = iter(range(1_000_000))

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


# -- retry decorators, one per library ---------------------------------------------------


def _rebellion_retry() -> Decorator:
    from rebellion import Retry

    retry: Decorator = Retry(max_attempts=3, initial_delay=0.0, jitter="none")
    return retry


def _tenacity() -> Decorator:
    import tenacity

    return tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_none(),
        retry=tenacity.retry_if_exception_type(BenchError),
        reraise=True,
    )


def _backoff() -> Decorator:
    import backoff

    decorator: Decorator = backoff.on_exception(
        backoff.constant, BenchError, max_tries=3, interval=0, jitter=None
    )
    return decorator


def _pyresilience() -> Decorator:
    from pyresilience import RetryConfig, resilient

    decorator: Decorator = resilient(
        retry=RetryConfig(max_attempts=3, delay=0.0, jitter=False, retry_on=(BenchError,))
    )
    return decorator


def _wrap(make: Callable[[], Decorator], fn: Callable[..., Any]) -> Callable[[Runner], Op]:
    def build(runner: Runner) -> Op:
        return Op(fn=make()(fn), is_async=inspect.iscoroutinefunction(fn), **_OK)

    return build


def _wrap_flaky(make: Callable[[], Decorator], is_async: bool) -> Callable[[Runner], Op]:
    def build(runner: Runner) -> Op:
        flaky = Flaky()
        fn = make()(flaky.acall if is_async else flaky.call)
        return _flaky_op(fn, flaky, is_async)

    return build


def _flaky_op(fn: Callable[..., Any], flaky: Flaky, is_async: bool) -> Op:
    return Op(
        fn=fn,
        args=(1,),
        is_async=is_async,
        returns=2,
        probe=flaky.probe,
        calls_per_op=2,
        reset=flaky.reset,
    )


def _sleep_zero(is_async: bool) -> Callable[[Runner], Op]:
    """What a zero-delay sleep alone costs: the reference for peers that always sleep."""

    def build(runner: Runner) -> Op:
        return Op(
            fn=asyncio.sleep if is_async else time.sleep, args=(0,), is_async=is_async, returns=None
        )

    return build


def _hand_written(flaky: Flaky) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Return the floor of one retry cycle: try, catch, call again (sync, async)."""
    call, acall = flaky.call, flaky.acall

    def retry_once(x: int) -> int:
        try:
            return call(x)
        except BenchError:
            return call(x)

    async def aretry_once(x: int) -> int:
        try:
            return await acall(x)
        except BenchError:
            return await acall(x)

    return retry_once, aretry_once


# -- pipelines -------------------------------------------------------------------------


def _pipeline(with_timeout: bool) -> Any:
    from rebellion import CircuitBreaker, Fallback, Pipeline, Retry, Timeout

    policies: list[Any] = [
        Fallback(fallback_value),
        Retry(max_attempts=3, initial_delay=0.0, jitter="none"),
        CircuitBreaker(
            name=f"bench-pipeline-{next(_names)}", failure_threshold=5, reset_timeout=60.0
        ),
    ]
    if with_timeout:
        policies.append(Timeout(5.0))
    return Pipeline(*policies)


def _pipeline_build(fn: Callable[..., Any], with_timeout: bool, via: str) -> Callable[[Runner], Op]:
    is_async = inspect.iscoroutinefunction(fn)

    def build(runner: Runner) -> Op:
        try:
            pipeline = _pipeline(with_timeout)
            if via == "decorator":
                return Op(fn=pipeline(fn), is_async=is_async, **_OK)
        except ImportError:
            raise
        except Exception as error:  # e.g. a Timeout that refuses sync callees
            raise Unavailable(f"{type(error).__name__}: {error}") from error
        return Op(fn=pipeline.execute, args=(fn, 1), is_async=True, returns=2)

    return build


def _pyresilience_pipeline(fn: Callable[..., Any], with_timeout: bool) -> Callable[[Runner], Op]:
    def build(runner: Runner) -> Op:
        from pyresilience import (
            CircuitBreakerConfig,
            FallbackConfig,
            RetryConfig,
            TimeoutConfig,
            resilient,
        )

        decorate = resilient(
            retry=RetryConfig(max_attempts=3, delay=0.0, jitter=False, retry_on=(BenchError,)),
            circuit_breaker=CircuitBreakerConfig(failure_threshold=5, recovery_timeout=60.0),
            timeout=TimeoutConfig(seconds=5.0) if with_timeout else None,
            fallback=FallbackConfig(handler=fallback_value),
        )
        return Op(fn=decorate(fn), is_async=inspect.iscoroutinefunction(fn), **_OK)

    return build


# -- groups ----------------------------------------------------------------------------


def groups() -> list[Group]:
    """Return the retry and pipeline groups."""
    success = Group(
        "retry_success",
        "Retry, first attempt succeeds",
        [
            *baseline_contenders(
                (inc, passthrough(inc), _OK), (ainc, async_passthrough(ainc), _OK)
            ),
            Contender("rebellion @Retry", "rebellion", _wrap(_rebellion_retry, inc)),
            Contender("rebellion @Retry (async)", "rebellion", _wrap(_rebellion_retry, ainc)),
            Contender("tenacity @retry", "tenacity", _wrap(_tenacity, inc)),
            Contender("tenacity @retry (async)", "tenacity", _wrap(_tenacity, ainc)),
            Contender("backoff @on_exception", "backoff", _wrap(_backoff, inc)),
            Contender("backoff @on_exception (async)", "backoff", _wrap(_backoff, ainc)),
            Contender("pyresilience @resilient(retry)", "pyresilience", _wrap(_pyresilience, inc)),
            Contender(
                "pyresilience @resilient(retry) (async)", "pyresilience", _wrap(_pyresilience, ainc)
            ),
        ],
    )
    floor = Flaky()
    retry_once, aretry_once = _hand_written(floor)
    flaky_kwargs: dict[str, Any] = {
        "args": (1,),
        "returns": 2,
        "probe": floor.probe,
        "calls_per_op": 2,
        "reset": floor.reset,
    }
    failure = Group(
        "retry_failure_then_success",
        "Retry, first attempt raises, second succeeds, zero delay: one retry cycle",
        [
            *baseline_contenders(
                (retry_once, passthrough(retry_once), flaky_kwargs),
                (aretry_once, async_passthrough(aretry_once), flaky_kwargs),
            ),
            Contender("time.sleep(0)", "python", _sleep_zero(False)),
            Contender("await asyncio.sleep(0)", "python", _sleep_zero(True)),
            Contender("rebellion @Retry", "rebellion", _wrap_flaky(_rebellion_retry, False)),
            Contender("rebellion @Retry (async)", "rebellion", _wrap_flaky(_rebellion_retry, True)),
            Contender("tenacity @retry", "tenacity", _wrap_flaky(_tenacity, False)),
            Contender("tenacity @retry (async)", "tenacity", _wrap_flaky(_tenacity, True)),
            Contender("backoff @on_exception", "backoff", _wrap_flaky(_backoff, False)),
            Contender("backoff @on_exception (async)", "backoff", _wrap_flaky(_backoff, True)),
            Contender(
                "pyresilience @resilient(retry)", "pyresilience", _wrap_flaky(_pyresilience, False)
            ),
            Contender(
                "pyresilience @resilient(retry) (async)",
                "pyresilience",
                _wrap_flaky(_pyresilience, True),
            ),
        ],
        notes=[
            "Baselines here are a hand-written `try: f() except: f()`: the floor of one retry.",
            "tenacity, backoff and pyresilience call `time.sleep(0)` / `await asyncio.sleep(0)` "
            "even for a zero delay: the rows `time.sleep(0)` and `await asyncio.sleep(0)` show "
            "what that alone costs here (on Linux, sleep(0) waits out the timer slack, ~50 us).",
        ],
    )
    pipeline = Group(
        "pipeline_async",
        "Pipeline(Fallback, Retry, CircuitBreaker, Timeout), success path",
        [
            *baseline_contenders(
                (inc, passthrough(inc), _OK), (ainc, async_passthrough(ainc), _OK)
            ),
            Contender(
                "rebellion @Pipeline(4 policies) (async)",
                "rebellion",
                _pipeline_build(ainc, True, "decorator"),
            ),
            Contender(
                "rebellion await pipeline.execute (async)",
                "rebellion",
                _pipeline_build(ainc, True, "execute"),
            ),
            Contender(
                "rebellion @Pipeline(fallback, retry, breaker)",
                "rebellion",
                _pipeline_build(inc, False, "decorator"),
            ),
            Contender(
                "rebellion @Pipeline(4 policies) (sync)",
                "rebellion",
                _pipeline_build(inc, True, "decorator"),
                optional=True,
            ),
            Contender(
                "pyresilience @resilient(4 patterns) (async)",
                "pyresilience",
                _pyresilience_pipeline(ainc, True),
            ),
            Contender(
                "pyresilience @resilient(4 patterns) (sync)",
                "pyresilience",
                _pyresilience_pipeline(inc, True),
            ),
            Contender(
                "pyresilience @resilient(3 patterns)",
                "pyresilience",
                _pyresilience_pipeline(inc, False),
            ),
        ],
        notes=[
            "A sync callee cannot be interrupted: rebellion's Timeout is cooperative by "
            "default (the callee runs inline and the deadline is published to the inner "
            "policies), while pyresilience runs it in a worker thread, a thread hand-off "
            "per call. The 3-policy sync rows show the pipelines without a Timeout.",
        ],
    )
    return [success, failure, pipeline]
