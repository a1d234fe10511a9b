"""Durable queue enqueue cost against queue depth, with one and with two queue objects.

    python benchmarks/queue_depth_bench.py [--rows 1000000] [--ops 200] [--rounds 5] [--write]
    python benchmarks/queue_depth_bench.py --smoke

A queue must refuse an enqueue beyond ``max_size``, so every enqueue needs the number
of requests in the file. Two queue objects (or processes) on one file each see the
other's commits; if the size were re-counted after every foreign commit, an enqueue
would cost O(rows). The file is preloaded with ``--rows`` requests, then:

* ``1 object``: ``enqueue_sync`` in a loop on one queue object;
* ``2 objects, alternating``: the same, alternating between two queue objects on the
  same file, so every enqueue follows the other object's commit.

Every commit is fsynced (WAL, ``synchronous=FULL``), so both figures are bounded below
by the disk's fsync latency; the target is that depth and a second object cost no more
than 1.5x the lone object at the same depth. ``--write`` replaces the
"## Durable queue: enqueue cost at depth" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rebellion.durable import PersistentRequestQueue, RetryableRequest

HEADING = "## Durable queue: enqueue cost at depth"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PAYLOAD = '{"args":["a prompt of modest length for the model","gpt"],"kwargs":{}}'
TARGET = 1.5


def preload(path: Path, rows: int) -> None:
    """Create the queue file and insert ``rows`` requests in one transaction."""
    PersistentRequestQueue(path, max_size=2**53).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO requests (id, priority, operation, payload, max_retries,"
        " idempotency_key, enqueued_at, visible_at) VALUES (?, 0, 'generate', ?, 3, NULL, 1, 1)",
        ((os.urandom(16).hex(), PAYLOAD) for _ in range(rows)),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def measure(path: Path, ops: int, rounds: int) -> dict[str, float]:
    """Median ms per enqueue over ``rounds`` interleaved bursts of ``ops`` enqueues."""
    first = PersistentRequestQueue(path, max_size=2**53)
    second = PersistentRequestQueue(path, max_size=2**53)
    request = RetryableRequest("generate", args=["a prompt of modest length for the model"])
    samples: dict[str, list[float]] = {"1 object": [], "2 objects, alternating": []}
    try:
        for queue in (first, second):  # warm: open the WAL, cache the schema
            for _ in range(5):
                queue.enqueue_sync(request)
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(ops):
                first.enqueue_sync(request)
            samples["1 object"].append((time.perf_counter() - start) * 1000 / ops)
            start = time.perf_counter()
            for i in range(ops):
                (first if i % 2 else second).enqueue_sync(request)
            samples["2 objects, alternating"].append((time.perf_counter() - start) * 1000 / ops)
    finally:
        first.close()
        second.close()
    return {name: statistics.median(values) for name, values in samples.items()}


def report(rows: int, figures: dict[str, float], smoke: bool) -> tuple[str, bool]:
    one, two = figures["1 object"], figures["2 objects, alternating"]
    ok = two <= TARGET * one
    lines = [
        f"| contender ({rows:,} requests in the file) | ms per enqueue |",
        "|:--|--:|",
        *(f"| {name} | {value:.3f} |" for name, value in figures.items()),
        "",
        f"| {'met' if ok else 'MISSED'} | 2 objects <= {TARGET}x 1 object per enqueue |"
        f" {two / one:.2f}x |",
        "",
        f"- python {platform.python_version()}, sqlite {sqlite3.sqlite_version},"
        f" {os.cpu_count()} CPUs; {'smoke run, not judged' if smoke else 'median of rounds'}.",
    ]
    return "\n".join(lines), ok


def write_results(body: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = (
        f"{HEADING}\n\nProduced by `python benchmarks/queue_depth_bench.py --write`"
        f" ({stamp}).\n\n{body}\n"
    )
    if HEADING in text:
        head, rest = text.split(HEADING, 1)
        tail = rest.split("\n## ", 1)
        text = head + section + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="requests preloaded")
    ap.add_argument("--ops", type=int, default=200, help="enqueues per burst")
    ap.add_argument("--rounds", type=int, default=5, help="bursts per contender")
    ap.add_argument("--dir", type=Path, default=None, help="where the database goes")
    ap.add_argument("--smoke", action="store_true", help="tiny counts, no verdict")
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    rows, ops, rounds = (2000, 10, 1) if args.smoke else (args.rows, args.ops, args.rounds)
    workdir = Path(tempfile.mkdtemp(prefix="queue-depth-", dir=args.dir))
    try:
        path = workdir / "deep.db"
        preload(path, rows)
        figures = measure(path, ops, rounds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    body, ok = report(rows, figures, args.smoke)
    print(body)
    if args.write and not args.smoke:
        write_results(body)
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
