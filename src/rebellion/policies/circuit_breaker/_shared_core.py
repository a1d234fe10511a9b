"""State of a Redis-shared breaker as one process sees it, and the Redis round trips.

The shared truth lives in Redis and changes only inside the Lua scripts of
``_shared_lua``. Each process caches the last reply for ``refresh_interval``: while
the cache is fresh and CLOSED a call costs no round trip; after that the next call
runs the acquire script, which both decides and refreshes. So a process notices a
breaker opened elsewhere within ``refresh_interval`` plus one round trip (the
documented staleness bound). Failures are always sent to Redis at once; successes
only when this process last saw a non-zero failure count (that is what resets it).

When a round trip fails, the core flips to *degraded* and the driver uses a local
:class:`CircuitBreaker` with the same settings; every ``resync_interval`` it tries
Redis again, pushes a trip that happened during the outage, and resumes sharing.
"""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from typing import Any, final

from ..._clock import Clock
from ..._events import EventStream
from ...errors import CircuitOpenError
from ._config import CircuitState
from ._events import CircuitStateChanged
from ._shared_events import SharedStateRestored, SharedStateUnavailable
from ._shared_lua import ACQUIRE, READ, RECORD

__all__ = ["Permit", "SharedCore"]

Permit = tuple[int, str]
"""``(epoch seen, lease id or "")`` of one admitted call."""
_STATES = {s.value: s for s in CircuitState}


@final
class SharedCore:
    """Cached shared state, the scripts, and the degraded/re-sync switch."""

    def __init__(
        self,
        name: str,
        *,
        client: Any,
        key: str,
        settings: dict[str, float],
        refresh_interval: float,
        resync_interval: float,
        probe_lease: float,
        clock: Clock,
        events: EventStream,
        errors: tuple[type[BaseException], ...],
    ) -> None:
        self.name = name
        self.client = client
        self.keys = [key, key + ":probes"]
        self.settings = settings
        self.refresh_interval = refresh_interval
        self.resync_interval = resync_interval
        self.probe_lease = probe_lease
        self.clock = clock
        self.events = events
        self.errors = errors
        self._acquire = client.register_script(ACQUIRE)
        self._record = client.register_script(RECORD)
        self._read = client.register_script(READ)
        self._token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._leases = itertools.count()
        self.lock = threading.Lock()
        self.state = CircuitState.CLOSED
        self.epoch = 0
        self.open_until = 0.0
        self.failures = 0
        self.synced_at = -float("inf")
        self.degraded = False
        self.next_resync = 0.0
        self.redis_errors = 0
        self.last_error: str | None = None

    # -- replies -------------------------------------------------------------------

    def _apply(self, reply: list[Any], why: str) -> bool:
        """Cache a script reply; emit a transition seen here; return ``granted``."""
        state = _STATES[_text(reply[0])]
        with self.lock:
            old = self.state
            self.state = state
            self.epoch = int(_text(reply[1]))
            self.open_until = float(_text(reply[2]))
            self.failures = int(_text(reply[4]))
            self.synced_at = self.clock.monotonic()
        if old is not state and self.events.active:
            self.events.emit(
                CircuitStateChanged(self.name, self.clock.wall(), old.value, state.value, why)
            )
        return bool(int(reply[3]))

    def _call(self, script: Any, args: list[object]) -> list[Any] | None:
        """Run a script; on a Redis failure switch to degraded and return ``None``."""
        try:
            reply: list[Any] = script(keys=self.keys, args=[self.clock.wall(), *args])
        except self.errors as error:
            self._degrade(error)
            return None
        return reply

    def _degrade(self, error: BaseException) -> None:
        self.redis_errors += 1
        self.last_error = type(error).__name__
        with self.lock:
            first = not self.degraded
            self.degraded = True
            self.next_resync = self.clock.monotonic() + self.resync_interval
        if first and self.events.active:
            self.events.emit(
                SharedStateUnavailable(self.name, self.clock.wall(), type(error).__name__)
            )

    # -- decisions -------------------------------------------------------------------

    def acquire(self) -> Permit | None:
        """Return a permit, raise :class:`CircuitOpenError`, or ``None`` when degraded."""
        if self.degraded:
            return None
        fresh = self.clock.monotonic() - self.synced_at < self.refresh_interval
        if fresh:
            state = self.state
            if state is CircuitState.CLOSED:
                return (self.epoch, "")
            remaining = self.open_until - self.clock.wall()
            if state is CircuitState.OPEN and remaining > 0:
                raise CircuitOpenError(self.name, remaining, "OPEN")
        lease = f"{self._token}-{next(self._leases)}"
        reply = self._call(self._acquire, [lease, self.probe_lease, self.max_probes])
        if reply is None:
            return None
        granted = self._apply(reply, "observed in Redis")
        state = self.state
        if state is CircuitState.CLOSED:
            return (self.epoch, "")
        if granted:
            return (self.epoch, lease)
        if state is CircuitState.OPEN:
            raise CircuitOpenError(self.name, max(0.0, self.open_until - self.clock.wall()))
        raise CircuitOpenError(self.name, 0.0, "HALF_OPEN")

    @property
    def max_probes(self) -> int:
        return int(self.settings["half_open_max_calls"])

    def record(self, permit: Permit, outcome: str) -> None:
        """Send an outcome (``success``/``failure``/``release``) to Redis if it matters."""
        epoch, lease = permit
        if not lease and outcome == "success" and (self.failures == 0 or epoch != self.epoch):
            return  # nothing to reset: no round trip on the common success path
        s = self.settings
        reply = self._call(
            self._record,
            [
                outcome,
                epoch,
                lease,
                int(s["failure_threshold"]),
                int(s["success_threshold"]),
                s["reset_timeout"],
                s["exponential_backoff_factor"],
                s["max_reset_timeout"],
            ],
        )
        if reply is not None:
            why = "probe " + outcome if lease else f"{outcome} recorded"
            self._apply(reply, why)

    def refresh(self) -> None:
        """Re-read the shared state if the cache is stale (for ``state`` and ``stats``)."""
        if self.degraded or self.clock.monotonic() - self.synced_at < self.refresh_interval:
            return
        reply = self._call(self._read, [])
        if reply is not None:
            self._apply(reply, "observed in Redis")

    def try_resync(self, local_tripped: bool) -> bool:
        """While degraded, retry Redis once per ``resync_interval``; True once back."""
        if not self.degraded or self.clock.monotonic() < self.next_resync:
            return not self.degraded
        with self.lock:
            self.next_resync = self.clock.monotonic() + self.resync_interval
        outcome = "trip" if local_tripped else "read"
        if outcome == "trip":
            s = self.settings
            args: list[object] = [
                "trip",
                self.epoch,
                "",
                0,
                0,
                s["reset_timeout"],
                s["exponential_backoff_factor"],
                s["max_reset_timeout"],
            ]
            script = self._record
        else:
            args, script = [], self._read
        try:
            reply: list[Any] = script(keys=self.keys, args=[self.clock.wall(), *args])
        except self.errors as error:
            self.redis_errors += 1
            self.last_error = type(error).__name__
            return False
        self.degraded = False
        self._apply(reply, "re-synced with Redis")
        if self.events.active:
            self.events.emit(SharedStateRestored(self.name, self.clock.wall(), self.state.value))
        return True

    def reset(self) -> None:
        """Close the shared breaker for every process."""
        s = self.settings
        reply = self._call(
            self._record,
            ["reset", self.epoch, "", 0, 0, s["reset_timeout"], 1, s["max_reset_timeout"]],
        )
        if reply is not None:
            self._apply(reply, "reset")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
