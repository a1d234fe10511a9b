"""A child process for the crash tests, killed with SIGKILL at random instants.

``fork-producers DB``: for each line on stdin, fork a producer process and print
``child PID``, then ``dead PID`` once it died (the test kills it). Forking from one
warmed-up, single-threaded process makes a round cost milliseconds, not an interpreter
start. A producer runs 8 concurrent tasks that enqueue forever; each prints the
returned id (flushed) only after ``enqueue`` returned, i.e. after the fsynced commit.
``work DB OUT LEASE``: process the queue; the handler appends its request id to OUT
(fsynced) and prints ``started``/``done`` lines; ``hang`` requests never finish.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from _queue_handlers import append_line

from rebellion.durable import PersistentRequestQueue, RetryableRequest, current_delivery


async def produce(path: str) -> None:
    queue = PersistentRequestQueue(path, max_size=1_000_000)

    async def loop(worker: int) -> None:
        i = 0
        while True:
            rid = await queue.enqueue(RetryableRequest("work", args=[worker, i]))
            sys.stdout.write(rid + "\n")
            sys.stdout.flush()
            i += 1

    await asyncio.gather(*(loop(w) for w in range(8)))


def fork_producers(path: str) -> None:
    print("ready", flush=True)
    for _ in sys.stdin:
        pid = os.fork()
        if pid == 0:
            try:
                asyncio.run(produce(path))
            finally:
                os._exit(1)
        print("child", pid, flush=True)
        os.waitpid(pid, 0)
        print("dead", pid, flush=True)


async def work(path: str, out: str, lease: float) -> None:
    queue = PersistentRequestQueue(path, max_size=1_000_000, lease_timeout=lease)

    async def handle(*args: object) -> None:
        context = current_delivery()
        assert context is not None
        print("started", context.delivery.id, flush=True)
        if args and args[0] == "hang":
            await asyncio.Event().wait()
        await asyncio.to_thread(append_line, out, context.delivery.id)

    queue.register_handler("work", handle)
    print("ready", flush=True)
    await queue.process_queue(concurrency=2)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    if sys.argv[1] == "fork-producers":
        fork_producers(sys.argv[2])
    else:
        asyncio.run(work(sys.argv[2], sys.argv[3], float(sys.argv[4])))
