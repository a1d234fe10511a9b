"""Adaptive limiter, hedge and chaos groups: the cost each adds on its success path.

No peer library implements these the same way, so each group compares rebellion with
the nearest floor: the adaptive limiter's acquire + release against a bare
``asyncio.Semaphore`` (a fixed limit, no samples); a hedge whose delay never expires
against a bare await and against a ``Timeout`` (the same shape of work: a deadline
per call on a shared timer, the call awaited inline); a disabled chaos policy against
a pass-through decorator. ``TARGETS`` holds the performance targets.

>>> [g.name for g in groups()]
['adaptive_limiter_success', 'hedge_no_hedge', 'chaos_disabled']
"""

from __future__ import annotations

import asyncio
from typing import Any

from _common import Contender, Group, ainc, async_passthrough, baseline_contenders, inc, passthrough
from _harness import Op, Runner
from _targets import at_most_times

__all__ = ["TARGETS", "groups"]

_OK: dict[str, Any] = {"args": (1,), "returns": 2}


def _semaphore(runner: Runner) -> Op:
    semaphore = asyncio.Semaphore(1000)

    async def guarded(x: int) -> int:
        async with semaphore:
            return await ainc(x)

    return Op(fn=guarded, is_async=True, **_OK)


def _limiter(is_async: bool, via: str) -> Any:
    def build(runner: Runner) -> Op:
        from rebellion import AdaptiveLimiter

        limiter = AdaptiveLimiter("bench-adaptive", algorithm="gradient2", initial_limit=1000)
        fn = ainc if is_async else inc
        if via == "decorator":
            return Op(fn=limiter(fn), is_async=is_async, **_OK)
        return Op(
            fn=limiter.execute if is_async else limiter.call,
            args=(fn, 1),
            is_async=is_async,
            returns=2,
        )

    return build


def _hedge(runner: Runner) -> Op:
    from rebellion import Hedge

    hedge = Hedge("bench-hedge", delay=3600.0)
    return Op(fn=hedge(ainc), is_async=True, **_OK)


def _timeout(runner: Runner) -> Op:
    from rebellion import Timeout

    timeout = Timeout(3600.0, name="bench-hedge-timeout")
    return Op(fn=timeout(ainc), is_async=True, **_OK)


def _chaos(is_async: bool) -> Any:
    def build(runner: Runner) -> Op:
        from rebellion import Chaos

        chaos = Chaos("bench-chaos", error=RuntimeError, error_rate=1.0, enabled=False)
        return Op(fn=chaos(ainc if is_async else inc), is_async=is_async, **_OK)

    return build


def groups() -> list[Group]:
    """Return the adaptive limiter, hedge and chaos groups."""
    adaptive = Group(
        "adaptive_limiter_success",
        "AdaptiveLimiter(gradient2) acquire + release around a call, success path",
        [
            *baseline_contenders(
                (inc, passthrough(inc), _OK), (ainc, async_passthrough(ainc), _OK)
            ),
            Contender("asyncio.Semaphore (async with)", "python", _semaphore),
            Contender(
                "rebellion @AdaptiveLimiter (async)", "rebellion", _limiter(True, "decorator")
            ),
            Contender("rebellion await limiter.execute", "rebellion", _limiter(True, "execute")),
            Contender("rebellion @AdaptiveLimiter", "rebellion", _limiter(False, "decorator")),
            Contender("rebellion limiter.call(fn, x)", "rebellion", _limiter(False, "call")),
        ],
        notes=[
            "Each release records a latency sample (windowed; the limit moves at most once "
            "per window); the slot is taken and returned without a lock or a token, and the "
            "lock is taken once per window to feed the algorithm. The semaphore keeps a "
            "fixed count only."
        ],
    )
    hedge = Group(
        "hedge_no_hedge",
        "Hedge(delay=1 h) around an async call: the first attempt always wins",
        [
            *baseline_contenders(None, (ainc, async_passthrough(ainc), _OK)),
            Contender("rebellion @Timeout(1 h) (async)", "rebellion", _timeout),
            Contender("rebellion @Hedge (async)", "rebellion", _hedge),
        ],
        notes=[
            "Attempt 1 is awaited inline in the caller's task; its hedge deadline waits in a "
            "FIFO queue with one shared timer per loop and delay (as Timeout's cancel scopes "
            "do). Tasks are created only once the delay passes or attempt 1 fails."
        ],
    )
    chaos = Group(
        "chaos_disabled",
        "Chaos(enabled=False): faults configured but switched off",
        [
            *baseline_contenders(
                (inc, passthrough(inc), _OK), (ainc, async_passthrough(ainc), _OK)
            ),
            Contender("rebellion @Chaos disabled", "rebellion", _chaos(False)),
            Contender("rebellion @Chaos disabled (async)", "rebellion", _chaos(True)),
        ],
    )
    return [adaptive, hedge, chaos]


TARGETS = [
    at_most_times(
        "adaptive_limiter_success",
        "rebellion @AdaptiveLimiter (async)",
        "asyncio.Semaphore (async with)",
        1.3,
    ),
    at_most_times(
        "hedge_no_hedge", "rebellion @Hedge (async)", "rebellion @Timeout(1 h) (async)", 3.0
    ),
]
"""The performance targets: the limiter near a semaphore, a quiet hedge near a timeout."""
