"""Timeout group: the cost of bounding a call that finishes in time.

Sync calls run inline with the deadline published (cooperative mode); async calls run
under a cancel scope on one shared timer. The floor for async work is
``asyncio.timeout`` (a timer handle per call); sync work has no peer, so it is read
against the bare call and a pass-through decorator.

>>> [g.name for g in groups()]
['timeout_success']
"""

from __future__ import annotations

import asyncio
from typing import Any

from _common import Contender, Group, ainc, async_passthrough, baseline_contenders, inc, passthrough
from _harness import Op, Runner

__all__ = ["groups"]

_OK: dict[str, Any] = {"args": (1,), "returns": 2}


def _asyncio_timeout(runner: Runner) -> Op:
    async def guarded(x: int) -> int:
        async with asyncio.timeout(3600.0):
            return await ainc(x)

    return Op(fn=guarded, is_async=True, **_OK)


def _timeout(is_async: bool, via: str) -> Any:
    def build(runner: Runner) -> Op:
        from rebellion import Timeout

        timeout = Timeout(3600.0, name="bench-timeout")
        fn = ainc if is_async else inc
        if via == "decorator":
            return Op(fn=timeout(fn), is_async=is_async, **_OK)
        return Op(
            fn=timeout.execute if is_async else timeout.call,
            args=(fn, 1),
            is_async=is_async,
            returns=2,
        )

    return build


def groups() -> list[Group]:
    """Return the timeout group."""
    return [
        Group(
            "timeout_success",
            "Timeout(1 h) around a call that returns at once",
            [
                *baseline_contenders(
                    (inc, passthrough(inc), _OK), (ainc, async_passthrough(ainc), _OK)
                ),
                Contender("asyncio.timeout async with", "python", _asyncio_timeout),
                Contender("rebellion @Timeout", "rebellion", _timeout(False, "decorator")),
                Contender("rebellion timeout.call(fn, x)", "rebellion", _timeout(False, "call")),
                Contender("rebellion @Timeout (async)", "rebellion", _timeout(True, "decorator")),
                Contender(
                    "rebellion await timeout.execute(fn, x)", "rebellion", _timeout(True, "call")
                ),
            ],
            notes=["Sync calls run in the default cooperative mode (inline, deadline published)."],
        )
    ]
