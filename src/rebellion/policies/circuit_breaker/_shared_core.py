"""State of a Redis-shared breaker as one process sees it, and the Redis round trips.

The shared truth lives in Redis and changes only inside the Lua script of
``_shared_lua``: one evaluation (EVALSHA, reloaded on ``NOSCRIPT``) per decision:
acquire a permission, record an outcome (with its duration, so the slow-call verdict is
taken in the same script), read. Each process caches the last reply for
``refresh_interval``: while the cache is fresh and CLOSED, acquiring costs no round trip;
an OPEN state is enforced locally until its deadline (converted to this process's
monotonic clock, so host clocks need not agree). Outcomes always go to Redis, except
where they cannot matter: a consecutive-mode success with no failures to reset, or a
call admitted under a state that has since changed.

When a round trip fails the core flips to *degraded* and the policy decides as
configured (local breaker, fail open or fail closed); every ``resync_interval`` it tries
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
from ._shared_lua import SCRIPT

__all__ = ["Permit", "SharedCore"]

Permit = tuple[int, str]
"""``(epoch seen, lease id or "")`` of one admitted call."""
_STATES = {s.value: s for s in CircuitState}
_CONFIG_ORDER = (
    "window_type",
    "window_size",
    "window_buckets",
    "minimum_calls",
    "failure_rate_threshold",
    "slow_call_duration",
    "slow_call_rate_threshold",
    "failure_threshold",
    "success_threshold",
    "reset_timeout",
    "exponential_backoff_factor",
    "max_reset_timeout",
)


@final
class SharedCore:
    """Cached shared state, the script, and the degraded/re-sync switch."""

    def __init__(
        self,
        name: str,
        *,
        client: Any,
        key: str,
        settings: dict[str, Any],
        refresh_interval: float,
        resync_interval: float,
        probe_lease: float,
        key_ttl: float,
        server_time: bool,
        clock: Clock,
        events: EventStream,
        errors: tuple[type[BaseException], ...],
    ) -> None:
        self.name = name
        self.client = client
        self.keys = [key, key + ":probes", key + ":window"]
        self.settings = settings
        self.refresh_interval = refresh_interval
        self.resync_interval = resync_interval
        self.probe_lease = probe_lease
        self.server_time = server_time
        self.key_ttl_ms = int(key_ttl * 1000)
        self.clock = clock
        self.events = events
        self.errors = errors
        self.consecutive = settings["window_type"] == "consecutive"
        # One script serves every decision; three handles keep the call sites readable.
        self._acquire = self._record = self._read = client.register_script(SCRIPT)
        self._config: str | None = None  # the settings as the script reads them, built once
        self._token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._leases = itertools.count()
        self.lock = threading.Lock()
        self.state = CircuitState.CLOSED
        self.epoch = 0
        self.open_until = 0.0
        self.open_deadline = -float("inf")
        self.failures = 0
        self.window = (0, 0, 0)
        self.level = 0
        self.probes = 0
        self.transitions = 0
        self.synced_at = -float("inf")
        self.degraded = False
        self.next_resync = 0.0
        self.redis_errors = 0
        self.last_error: str | None = None

    # -- round trips -------------------------------------------------------------------

    def _args(self, op: str, epoch: int, lease: str, duration: float | None) -> list[object]:
        now = "" if self.server_time else repr(self.clock.wall())
        if self._config is None:
            s = self.settings
            values = [self.key_ttl_ms, *(0 if s[k] is None else s[k] for k in _CONFIG_ORDER)]
            values += [self.max_probes, self.probe_lease]
            self._config = " ".join(str(v) for v in values)
        return [now, self._config, op, epoch, lease, "" if duration is None else repr(duration)]

    def _call(
        self, script: Any, op: str, epoch: int = 0, lease: str = "", duration: float | None = None
    ) -> bytes | None:
        """Run one decision; on a Redis failure switch to degraded and return ``None``."""
        try:
            reply: bytes = script(keys=self.keys, args=self._args(op, epoch, lease, duration))
        except self.errors as error:
            self._degrade(error)
            return None
        return reply

    def _apply(self, reply: bytes | str) -> bool:
        """Cache a script reply; emit a transition seen here; return ``granted``."""
        fields = _text(reply).split("|", 12)
        state = _STATES[fields[0]]
        now = float(fields[5])
        with self.lock:
            old = self.state
            self.state = state
            self.epoch = int(fields[1])
            self.open_until = float(fields[2])
            self.open_deadline = self.clock.monotonic() + (self.open_until - now)
            self.failures = int(fields[4])
            self.window = (int(fields[6]), int(fields[7]), int(fields[8]))
            self.level = int(fields[9])
            self.probes = int(fields[10])
            self.transitions = int(fields[11])
            self.synced_at = self.clock.monotonic()
        if old is not state and self.events.active:
            why = fields[12] or "observed in Redis"
            self.events.emit(
                CircuitStateChanged(self.name, self.clock.wall(), old.value, state.value, why)
            )
        return fields[3] == "1"

    def _degrade(self, error: BaseException) -> None:
        with self.lock:
            self.redis_errors += 1
            self.last_error = type(error).__name__
            first = not self.degraded
            self.degraded = True
            self.next_resync = self.clock.monotonic() + self.resync_interval
        if first and self.events.active:
            self.events.emit(
                SharedStateUnavailable(self.name, self.clock.wall(), type(error).__name__)
            )

    # -- decisions -------------------------------------------------------------------

    @property
    def max_probes(self) -> int:
        return int(self.settings["half_open_max_calls"])

    def remaining_open(self) -> float:
        """Seconds the last-seen OPEN state has left on this process's clock (0 if none)."""
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self.open_deadline - self.clock.monotonic())

    def acquire(self) -> Permit | None:
        """Return a permit, raise :class:`CircuitOpenError`, or ``None`` when degraded."""
        if self.degraded:
            return None
        if self.clock.monotonic() - self.synced_at < self.refresh_interval:
            state = self.state
            if state is CircuitState.CLOSED:
                return (self.epoch, "")
            remaining = self.remaining_open()
            if remaining > 0:
                raise CircuitOpenError(self.name, remaining, "OPEN")
        lease = f"{self._token}-{next(self._leases)}"
        reply = self._call(self._acquire, "acquire", lease=lease)
        if reply is None:
            return None
        granted = self._apply(reply)
        state, epoch = _parse_head(reply)
        if state is CircuitState.CLOSED:
            return (epoch, "")
        if granted:
            return (epoch, lease)
        if state is CircuitState.OPEN:
            raise CircuitOpenError(self.name, self.remaining_open(), "OPEN")
        raise CircuitOpenError(self.name, 0.0, "HALF_OPEN")

    def record(self, permit: Permit, outcome: str, duration: float | None = None) -> None:
        """Send an outcome (``success``/``failure``/``release``) to Redis if it can matter."""
        epoch, lease = permit
        if not lease:
            if outcome == "release" or epoch != self.epoch:
                return  # ignored, or admitted under a state that has changed since
            if self.consecutive and outcome == "success" and self.failures == 0:
                slow = self.settings["slow_call_duration"]
                if duration is None or slow is None or duration < slow:
                    return  # nothing to reset: no round trip on the common path
        reply = self._call(self._record, outcome, epoch, lease, duration)
        if reply is not None:
            self._apply(reply)

    def refresh(self) -> None:
        """Re-read the shared state if the cache is stale (for ``state`` and ``stats``)."""
        if self.degraded or self.clock.monotonic() - self.synced_at < self.refresh_interval:
            return
        reply = self._call(self._read, "read")
        if reply is not None:
            self._apply(reply)

    def try_resync(self, local_tripped: bool) -> bool:
        """While degraded, retry Redis once per ``resync_interval``; True once back."""
        if not self.degraded or self.clock.monotonic() < self.next_resync:
            return not self.degraded
        with self.lock:
            self.next_resync = self.clock.monotonic() + self.resync_interval
        op = "trip" if local_tripped else "read"
        try:
            reply: bytes = self._record(keys=self.keys, args=self._args(op, self.epoch, "", None))
        except self.errors as error:
            with self.lock:
                self.redis_errors += 1
                self.last_error = type(error).__name__
            return False
        self.degraded = False
        self._apply(reply)
        if self.events.active:
            self.events.emit(SharedStateRestored(self.name, self.clock.wall(), self.state.value))
        return True

    def reset(self) -> None:
        """Close the shared breaker for every process."""
        reply = self._call(self._record, "reset")
        if reply is not None:
            self._apply(reply)


def _parse_head(reply: bytes | str) -> tuple[CircuitState, int]:
    """Return the state and epoch of a reply."""
    state, epoch, _ = _text(reply).split("|", 2)
    return _STATES[state], int(epoch)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
