"""Scenario: sync timeouts must isolate callers from one hung dependency.

A sync :class:`~rebellion.Timeout` runs the callee in a worker thread and waits for it
in real time (a thread cannot be interrupted, so virtual time cannot help here). The
schedule hangs a random number of calls behind one timeout, then makes an instant call
under an unrelated timeout: it must get its answer, not a timeout caused by the other
policy's hung threads. Hung callees are released at the end, so no thread stays blocked.

Calls beyond the hung policy's own ``max_threads`` are refused at once
(``TimeoutCapacityError``), and the unrelated policy keeps answering.

>>> from rebellion.simulation._world import KNOWN_BUGS
>>> "timeout-starvation" in KNOWN_BUGS
False
"""

from __future__ import annotations

import threading

from ..errors import RebellionError
from ..policies.timeout import Timeout
from ._world import World

__all__ = ["run_sync_timeout"]


def run_sync_timeout(world: World) -> None:
    """Run one sync-timeout schedule in ``world``, recording violations there."""
    if not world.family("timeout-starvation"):
        world.log("skipped: the timeout-starvation family is not included")
        return
    release = threading.Event()
    # Thread mode: the only one that walks away from a blocking callee, so the only one
    # whose threads a hung dependency can hold.
    threads = world.rng.randint(1, 8)
    hung_policy = Timeout(0.002, name="sim-hung", mode="thread", max_threads=threads)
    # Generous: only starvation, never a slow machine, makes the instant call time out.
    other = Timeout(30.0, name="sim-instant", mode="thread")
    hung = world.rng.randint(2, 12)
    world.log(f"{hung} calls hang behind {hung_policy!r}")
    try:
        for number in range(hung):
            try:
                hung_policy.call(release.wait)
            except RebellionError as error:
                world.step(f"hung call {number}: {type(error).__name__}")
        try:
            answer = other.call(lambda: "instant")
        except RebellionError as error:
            answer = type(error).__name__
        world.step(f"instant call under {other!r}: {answer}")
        world.check(
            answer == "instant",
            "timeout-isolation",
            f"an instant call under another Timeout got {answer} after {hung} hung calls",
        )
    finally:
        release.set()
