"""Flow-control groups: a producer adding items and a consumer taking batches of 100.

One operation = one item: ``add(item)``, and every 100th operation also takes a
batch of 100 (a shared ``itertools.cycle`` tick decides, same cost for every
contender). The figure is therefore ns per item, amortised over batches of 100, and
a target of "1,000,000 items/s" is ``absolute(..., 1000.0)``.

Baselines: a bare ``collections.deque`` (append + 100 poplefts, no bound, no
accounting), ``queue.Queue`` and ``asyncio.Queue`` (``put_nowait``/``get_nowait``).
The end-to-end batch processor rate does not fit a per-op harness: see
``benchmarks/batch_bench.py``.

>>> [g.name for g in groups()]
['backpressure_add_take']
"""

from __future__ import annotations

import asyncio
import itertools
import queue
from collections import deque
from collections.abc import Callable
from typing import Any

from _common import Contender, Group
from _harness import Op, Runner
from _targets import absolute

__all__ = ["TARGETS", "groups"]

BATCH = 100


def _per_item(add: Callable[[Any], object], take: Callable[[], object]) -> Op:
    tick = itertools.cycle((False,) * (BATCH - 1) + (True,)).__next__

    def op(item: int) -> None:
        add(item)
        if tick():
            take()

    return Op(fn=op, args=(1,))


def _deque(runner: Runner) -> Op:
    buffer: deque[int] = deque()
    pop = buffer.popleft

    def take() -> list[int]:
        return [pop() for _ in range(BATCH)]

    return _per_item(buffer.append, take)


def _queue(runner: Runner) -> Op:
    q: queue.Queue[int] = queue.Queue()
    get = q.get_nowait

    def take() -> list[int]:
        return [get() for _ in range(BATCH)]

    return _per_item(q.put_nowait, take)


def _asyncio_queue(runner: Runner) -> Op:
    q: asyncio.Queue[int] = asyncio.Queue()
    get = q.get_nowait

    def take() -> list[int]:
        return [get() for _ in range(BATCH)]

    return _per_item(q.put_nowait, take)


def _handler(strategy: str, size: int) -> Callable[[Runner], Op]:
    def build(runner: Runner) -> Op:
        from rebellion.flow import BackpressureHandler

        bp: BackpressureHandler[int] = BackpressureHandler(
            f"bench-{strategy}-{size}", size, strategy, adaptive_sampling=False
        )
        return _per_item(bp.add_item, bp.get_batch)

    return build


_GROUP = "backpressure_add_take"
_LATEST = "rebellion BackpressureHandler latest"


def groups() -> list[Group]:
    """Return the backpressure group."""
    return [
        Group(
            _GROUP,
            "Backpressure: add one item, take a batch of 100 every 100 items (ns per item)",
            [
                Contender("deque append/popleft (bare)", "python", _deque),
                Contender("queue.Queue put/get_nowait", "python", _queue),
                Contender("asyncio.Queue put/get_nowait", "python", _asyncio_queue),
                Contender(_LATEST, "rebellion", _handler("latest", 1000)),
                Contender(
                    "rebellion BackpressureHandler latest (full, evicting)",
                    "rebellion",
                    _handler("latest", 50),
                ),
                Contender(
                    "rebellion BackpressureHandler oldest", "rebellion", _handler("oldest", 1000)
                ),
                Contender(
                    "rebellion BackpressureHandler priority",
                    "rebellion",
                    _handler("priority", 1000),
                ),
            ],
            notes=[
                "ns per item; every 100th item also takes a batch of 100 (amortised).",
                "The 'full, evicting' buffer holds 50: half of all items are evicted.",
            ],
        )
    ]


TARGETS = [absolute(_GROUP, _LATEST, 1000.0)]
"""Target: add_item + get_batch >= 1,000,000 items/s for "latest" (<= 1,000 ns/item)."""
