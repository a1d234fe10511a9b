"""End-to-end BatchProcessor throughput: submit N items, drain, items per second.

Usage::

    python benchmarks/batch_bench.py            # 200k items per case, 5 runs, median
    python benchmarks/batch_bench.py --smoke    # 2k items, 1 run: proves it works

Each case starts a processor with a no-op ``process_function``, submits every item
(``await submit`` per item, or ``submit_nowait`` in a loop) while the dispatcher runs,
then ``await stop()`` drains. The wall time covers all of it. Baseline: the same
items through an ``asyncio.Queue`` with one consumer task that takes up to
``max_batch_size`` items per wake-up (what a hand-written batcher does).

Target: >= 200,000 items/s end to end (<= 5,000 ns per item).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rebellion.flow import BatchConfig, BatchProcessor

TARGET_ITEMS_PER_S = 200_000.0


async def _noop_async(items: list[int]) -> None:
    return None


def _noop(items: list[int]) -> None:
    return None


def _case(
    *, awaited: bool, inline: bool, batch: int, is_async: bool
) -> Callable[[int], Coroutine[Any, Any, int]]:
    async def run(n: int) -> int:
        config = BatchConfig(
            max_batch_size=batch,
            max_queue_size=50_000,
            max_concurrent_batches=4,
            run_sync_in_thread=not inline,
            max_wait=0.001,
        )
        fn = _noop_async if is_async else _noop
        processor = BatchProcessor("bench", fn, config)
        await processor.start()
        if awaited:
            submit = processor.submit
            for i in range(n):
                await submit(i)
        else:
            submit_nowait = processor.submit_nowait
            for i in range(n):
                while True:
                    try:
                        submit_nowait(i)
                        break
                    except Exception:  # full: let the dispatcher drain a little
                        await asyncio.sleep(0)
        await processor.stop()
        return int(processor.stats()["processed"])

    return run


def _baseline(batch: int) -> Callable[[int], Coroutine[Any, Any, int]]:
    async def run(n: int) -> int:
        q: asyncio.Queue[int | None] = asyncio.Queue(maxsize=50_000)
        done = 0

        async def consume() -> None:
            nonlocal done
            while True:
                first = await q.get()
                items = [first]
                while len(items) < batch and not q.empty():
                    items.append(q.get_nowait())
                if None in items:
                    done += len(items) - 1
                    return
                await _noop_async(items)  # type: ignore[arg-type]
                done += len(items)

        task = asyncio.ensure_future(consume())
        for i in range(n):
            await q.put(i)
        await q.put(None)
        await task
        return done

    return run


CASES: dict[str, Callable[[int], Coroutine[Any, Any, int]]] = {
    "asyncio.Queue + hand-written batching consumer (baseline)": _baseline(100),
    "rebellion await submit, async no-op, batch 100": _case(
        awaited=True, inline=True, batch=100, is_async=True
    ),
    "rebellion submit_nowait, async no-op, batch 100": _case(
        awaited=False, inline=True, batch=100, is_async=True
    ),
    "rebellion await submit, sync no-op inline, batch 100": _case(
        awaited=True, inline=True, batch=100, is_async=False
    ),
    "rebellion await submit, sync no-op in thread, batch 1000": _case(
        awaited=True, inline=False, batch=1000, is_async=False
    ),
}


def measure(n: int, runs: int) -> list[tuple[str, float]]:
    """Return (case, median items/s) for every case."""
    out = []
    for name, case in CASES.items():
        rates = []
        for _ in range(runs):
            started = time.perf_counter()
            processed = asyncio.run(case(n))
            elapsed = time.perf_counter() - started
            if processed != n:
                raise AssertionError(f"{name}: processed {processed} of {n}")
            rates.append(n / elapsed)
        out.append((name, statistics.median(rates)))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the cases and print a table; exit 1 if a case lost items."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run, no judgement")
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    n, runs = (2_000, 1) if args.smoke else (args.items, args.runs)
    print(f"{'case':60} {'items/s':>12} {'ns/item':>9}")
    for name, rate in measure(n, runs):
        print(f"{name:60} {rate:12,.0f} {1e9 / rate:9,.0f}")
    if not args.smoke:
        print(f"target: >= {TARGET_ITEMS_PER_S:,.0f} items/s end to end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
