"""Durable queue throughput, every contender fsyncing each commit (WAL, synchronous=FULL).

    python benchmarks/queue_bench.py [--rounds 15] [--scale 1.0] [--dir DIR] [--write]
    python benchmarks/queue_bench.py --smoke

Contenders run in interleaved bursts, each on its own warmed database on one
filesystem; only the operations are timed (not opening the database), and the median
burst rate is reported (this disk's fsync latency swings with other tenants' load):

* ``raw sqlite3 commit-per-op``: the floor for one durable write at a time -- an INSERT
  of a request-sized row and a COMMIT per operation;
* ``persist-queue SQLiteQueue put`` and ``SQLiteAckQueue put+get+ack``: the popular
  persistent queue (WAL; its connections are set to ``synchronous=FULL`` here, and the
  setting is read back and printed, so the comparison is like for like);
* ``rebellion enqueue, 1 producer``: ``await queue.enqueue`` in a loop (two thread
  hand-offs per operation: to the writer thread and back to the event loop), and
  ``enqueue_sync`` in a loop (a lone blocking caller commits itself, no hand-off);
* ``rebellion enqueue, 64 producers``: 64 tasks enqueueing at once (group commit);
* ``rebellion enqueue+process cycle``: 64 producers while 32 workers claim, run a no-op
  handler and ack (three durable writes per request, shared commits).

Targets: one producer costs at most 1.2x the raw commit-per-op loop per operation; 64
producers enqueue at least 10x the SQLiteAckQueue put+get+ack cycle rate. ``--write``
replaces the "## Durable request queue" section at the end of RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rebellion.durable import PersistentRequestQueue, RetryableRequest

T = TypeVar("T")
HEADING = "## Durable request queue"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PAYLOAD = '{"args":["a prompt of modest length for the model","gpt"],"kwargs":{}}'


class Bench:
    """One contender on a fresh database: ``run(n)`` is timed, setup and close are not."""

    def __init__(self, run: Callable[[int], int], close: Callable[[], None]) -> None:
        self.run = run
        self.close = close


def _closer(*steps: Callable[[], None]) -> Callable[[], None]:
    def close() -> None:
        for step in steps:
            step()

    return close


class _Loop:
    """An event loop kept across timed bursts, so loop start-up is not measured."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.loop.close()


def raw_commit_per_op(workdir: Path) -> Bench:
    conn = sqlite3.connect(workdir / f"raw-{uuid.uuid4().hex}.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE requests (seq INTEGER PRIMARY KEY, id TEXT, priority INT,"
        " operation TEXT, payload TEXT, enqueued_at REAL, visible_at REAL)"
    )
    conn.execute("CREATE INDEX requests_order ON requests (priority DESC, seq)")

    def run(n: int) -> int:
        now = time.time()
        for _ in range(n):
            conn.execute("BEGIN")
            conn.execute(
                "INSERT INTO requests (id, priority, operation, payload, enqueued_at, visible_at)"
                " VALUES (?, 0, 'generate', ?, ?, ?)",
                (uuid.uuid4().hex, PAYLOAD, now, now),
            )
            conn.execute("COMMIT")
        return n

    return Bench(run, conn.close)


def _full(queue: object) -> str:
    # persist-queue opens its own connections with WAL; make them fsync every commit.
    settings = []
    for attr in ("_getter", "_putter"):
        conn = getattr(queue, attr, None)
        if conn is not None:
            conn.execute("PRAGMA synchronous=FULL")
            settings.append(conn.execute("PRAGMA synchronous").fetchone()[0])
    return ",".join(str(s) for s in settings)


PQ_SETTINGS: dict[str, str] = {}
NOTE = (
    "- note: a lone `await enqueue` crosses threads twice per operation (event loop -> writer"
    " thread -> event loop), and on this VM waking an idle vCPU costs tens of microseconds each"
    " time, which the raw loop never pays. Committing on the event-loop thread would block every"
    " other task for an fsync, so the async single-producer path stays above the 1.2x target;"
    " `enqueue_sync` (a lone blocking caller leads its own commit, no hand-off) and any"
    " concurrency (group commit: one fsync for the whole batch) are the fast paths."
)
ITEM = {"args": ["a prompt of modest length for the model", "gpt"], "kwargs": {}}


def pq_put(workdir: Path) -> Bench:
    from persistqueue import SQLiteQueue

    queue = SQLiteQueue(str(workdir / f"pq-{uuid.uuid4().hex}"), auto_commit=True)
    PQ_SETTINGS["SQLiteQueue synchronous"] = _full(queue)

    def run(n: int) -> int:
        for _ in range(n):
            queue.put(ITEM)
        return n

    return Bench(run, lambda: None)


def pq_ack_cycle(workdir: Path) -> Bench:
    from persistqueue import SQLiteAckQueue

    queue = SQLiteAckQueue(str(workdir / f"pqa-{uuid.uuid4().hex}"))
    PQ_SETTINGS["SQLiteAckQueue synchronous"] = _full(queue)

    def run(n: int) -> int:
        for _ in range(n):
            queue.put(ITEM)
            queue.ack(queue.get())
        return n

    return Bench(run, lambda: None)


async def _noop(*args: object) -> None:
    return None


def _request() -> RetryableRequest:
    return RetryableRequest("generate", args=["a prompt of modest length for the model", "gpt"])


def ours_single(workdir: Path) -> Bench:
    queue = PersistentRequestQueue(workdir / f"r-{uuid.uuid4().hex}.db", max_size=10**9)
    loop, request = _Loop(), _request()

    async def body(n: int) -> int:
        for _ in range(n):
            await queue.enqueue(request)
        return n

    return Bench(lambda n: loop.run(body(n)), _closer(queue.close, loop.close))


def ours_single_sync(workdir: Path) -> Bench:
    queue = PersistentRequestQueue(workdir / f"s-{uuid.uuid4().hex}.db", max_size=10**9)
    request = _request()

    def run(n: int) -> int:
        for _ in range(n):
            queue.enqueue_sync(request)
        return n

    return Bench(run, queue.close)


def ours_concurrent(workdir: Path, producers: int = 64) -> Bench:
    queue = PersistentRequestQueue(workdir / f"c-{uuid.uuid4().hex}.db", max_size=10**9)
    loop, request = _Loop(), _request()

    async def body(n: int) -> int:
        per = max(1, n // producers)

        async def produce() -> None:
            for _ in range(per):
                await queue.enqueue(request)

        await asyncio.gather(*(produce() for _ in range(producers)))
        return per * producers

    return Bench(lambda n: loop.run(body(n)), _closer(queue.close, loop.close))


def ours_cycle(workdir: Path, producers: int = 64, workers: int = 32) -> Bench:
    queue = PersistentRequestQueue(
        workdir / f"y-{uuid.uuid4().hex}.db", max_size=10**9, poll_interval=0.05
    )
    queue.register_handler("generate", _noop)
    loop, request = _Loop(), _request()

    async def body(n: int) -> int:
        per = max(1, n // producers)
        total = per * producers
        start = queue.stats()["done"]
        runner = asyncio.create_task(queue.process_queue(concurrency=workers))

        async def produce() -> None:
            for _ in range(per):
                await queue.enqueue(request)

        await asyncio.gather(*(produce() for _ in range(producers)))
        while queue.stats()["done"] - start < total:
            await asyncio.sleep(0.001)
        await queue.stop()
        await runner
        return total

    return Bench(lambda n: loop.run(body(n)), _closer(queue.close, loop.close))


RAW = "raw sqlite3 commit-per-op (WAL, FULL)"
ACK = "persist-queue SQLiteAckQueue put+get+ack"
SINGLE = "rebellion enqueue, 1 producer (await)"
SINGLE_SYNC = "rebellion enqueue_sync, 1 producer"
MANY = "rebellion enqueue, 64 producers"
CONTENDERS: list[tuple[str, Callable[[Path], Bench], int]] = [
    (RAW, raw_commit_per_op, 300),
    ("persist-queue SQLiteQueue put", pq_put, 300),
    (ACK, pq_ack_cycle, 150),
    (SINGLE, ours_single, 300),
    (SINGLE_SYNC, ours_single_sync, 300),
    (MANY, ours_concurrent, 4096),
    ("rebellion enqueue+process cycle, 64 producers/32 workers", ours_cycle, 2048),
]


def measure(rounds: int, scale: float, workdir: Path) -> dict[str, float]:
    """Median ops/s per contender over ``rounds`` interleaved bursts.

    Each contender keeps one database for the whole run and is warmed first with
    enough writes to wrap its WAL once: a fresh WAL file grows on every commit, and
    that growth (an extra metadata flush per fsync) would otherwise favour whoever
    happens to run on a warm file.
    """
    benches = {name: (factory(workdir), ops) for name, factory, ops in CONTENDERS}
    samples: dict[str, list[float]] = {name: [] for name in benches}
    try:
        for bench, ops in benches.values():
            bench.run(max(1, int(ops * scale * 3)))
        order = list(benches)
        shuffle = random.Random(4).shuffle
        for _ in range(rounds):  # interleaved, in a new order each round: disk noise and
            shuffle(order)  # the flushes a heavy contender leaves behind hit all alike
            for name in order:
                bench, ops = benches[name]
                n = max(1, int(ops * scale))
                start = time.perf_counter()
                done = bench.run(n)
                samples[name].append(done / (time.perf_counter() - start))
    finally:
        for bench, _ in benches.values():
            bench.close()
    return {name: statistics.median(values) for name, values in samples.items()}


def report(rates: dict[str, float], smoke: bool, workdir: Path) -> tuple[str, bool]:
    raw, single, sync, many, ack = (rates[k] for k in (RAW, SINGLE, SINGLE_SYNC, MANY, ACK))
    lines = [
        "| contender | ops/s | us/op |",
        "|:--|--:|--:|",
        *(f"| {name} | {rate:,.0f} | {1e6 / rate:,.0f} |" for name, rate in rates.items()),
        "",
        "| status | target | measured |",
        "|:--|:--|:--|",
    ]
    ok_single = raw / single <= 1.2
    ok_sync = raw / sync <= 1.2
    ok_many = many >= 10 * ack
    lines.append(
        f"| {'met' if ok_single else 'MISSED'} | one producer (await enqueue) <= 1.2x the raw"
        f" commit-per-op loop per op | {raw / single:.2f}x |"
    )
    lines.append(
        f"| {'met' if ok_sync else 'MISSED'} | one producer (enqueue_sync) <= 1.2x the raw"
        f" commit-per-op loop per op | {raw / sync:.2f}x |"
    )
    lines.append(
        f"| {'met' if ok_many else 'MISSED'} | 64 producers >= 10x SQLiteAckQueue"
        f" put+get+ack cycles/s | {many / ack:.1f}x |"
    )
    settings = ", ".join(f"{k}={v}" for k, v in sorted(PQ_SETTINGS.items()))
    lines += [
        "",
        NOTE,
        f"- durability: every contender runs WAL with synchronous=FULL (2); persist-queue read"
        f" back: {settings} (it sets journal_mode=WAL itself; synchronous is set here).",
        f"- filesystem: {workdir} (fsync-bound: these rates measure the disk as much as code).",
        f"- python {platform.python_version()}, sqlite {sqlite3.sqlite_version},"
        f" {os.cpu_count()} CPUs; {'smoke run, not judged' if smoke else 'median of rounds'}.",
    ]
    return "\n".join(lines), ok_single and ok_sync and ok_many


def write_results(body: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = (
        f"{HEADING}\n\nProduced by `python benchmarks/queue_bench.py --write` ({stamp}).\n\n"
        f"{body}\n"
    )
    if HEADING in text:
        head, rest = text.split(HEADING, 1)
        tail = rest.split("\n## ", 1)
        after = "\n## " + tail[1] if len(tail) > 1 else ""
        text = head + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15, help="interleaved bursts per contender")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every burst size")
    ap.add_argument("--dir", type=Path, default=None, help="where the databases go")
    ap.add_argument("--smoke", action="store_true", help="tiny counts, no verdict")
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="queue-bench-", dir=args.dir))
    try:
        rounds, scale = (1, 0.05) if args.smoke else (args.rounds, args.scale)
        rates = measure(rounds, scale, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    body, ok = report(rates, args.smoke, workdir.parent)
    print(body)
    if args.write and not args.smoke:
        write_results(body)
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
