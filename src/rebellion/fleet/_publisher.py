"""Write entries to the fleet's Redis Streams from a background thread, never blocking.

:meth:`Publisher.publish` encodes the entry and appends it to a bounded backlog; a
daemon thread sends the backlog in pipelines of ``XADD ... MAXLEN ~ N``. When Redis is
down, slow or full (``OOM`` replies past ``maxmemory``), the entries stay in the backlog
and the thread retries with backoff; when the backlog is full the oldest entry is
dropped and counted. The caller (a monitor tick, a breaker's event) only ever pays for
encoding and an append.

>>> publisher = Publisher("redis://127.0.0.1:1/0", host_id="web-1", backlog=2)
>>> for n in range(3):
...     publisher.publish("events", "event", {"n": n})  # not started: only queued
>>> publisher.stats()["pending"], publisher.stats()["dropped"]
(2, 1)
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any, final

from .._validate import check_int, check_number
from ..backends.redis import connection_errors, sync_client
from ..errors import ConfigError
from ._keys import (
    PREFIX,
    STREAMS,
    check_host_id,
    default_host_id,
    default_process,
    encode,
    hosts_key,
    stream_key,
)

__all__ = ["Publisher"]

_log = logging.getLogger("rebellion.fleet")

_Entry = tuple[str, dict[str, str]]
_RENEW_EVERY = 60.0  # seconds between EXPIRE renewals of a host's streams


@final
class Publisher:
    """Send fleet entries for one process to Redis in the background.

    Args:
        url: the Redis URL, database included.
        host_id: the host this process runs on (default: the host name).
        process: this process's name in the fleet (default: ``program:pid``).
        backlog: entries kept while Redis is unreachable; the oldest go first.
        maxlen: bound of each stream (``samples``, ``state``, ``events``), trimmed
            approximately (``MAXLEN ~``) so trimming stays O(1).
        timeout: seconds a Redis command may take before it counts as a failure.
        batch: entries sent per pipeline.
        prefix: the key prefix shared with the hub.
        retention: seconds a host's streams outlive its last write (renewed every minute).

    Raises:
        ConfigError: a parameter is out of range.
    """

    def __init__(
        self,
        url: str,
        *,
        host_id: str | None = None,
        process: str | None = None,
        backlog: int = 2000,
        maxlen: Mapping[str, int] | None = None,
        timeout: float = 2.0,
        batch: int = 500,
        prefix: str = PREFIX,
        retention: float = 86_400.0,
    ) -> None:
        self.host_id = check_host_id(default_host_id() if host_id is None else host_id)
        self.process = check_host_id(default_process() if process is None else process, "process")
        self._backlog_size = check_int("backlog", backlog, minimum=1, maximum=10_000_000)
        self._batch = check_int("batch", batch, minimum=1, maximum=100_000)
        self._timeout = check_number("timeout", timeout, minimum=0.01, maximum=600.0)
        bounds = dict(STREAMS)
        for stream, bound in (maxlen or {}).items():
            if stream not in STREAMS:
                raise ConfigError("maxlen", f"keys among {sorted(STREAMS)}", stream)
            bounds[stream] = check_int(f"maxlen[{stream}]", bound, minimum=1, maximum=10**9)
        self.maxlen = bounds
        self._keys = {s: stream_key(prefix, self.host_id, s) for s in STREAMS}
        self._hosts = hosts_key(prefix)
        self._retention = int(check_number("retention", retention, minimum=60, maximum=10**8))
        self._renewed = -1e18
        self._client = sync_client(url, timeout=self._timeout)
        _import_now()
        self._errors = connection_errors()
        self._queue: deque[_Entry] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._sent = 0
        self._dropped = 0
        self._in_flight = 0
        self._failures = 0
        self._connected = False
        self._last_error: str | None = None

    def publish(self, stream: str, kind: str, payload: Any) -> None:
        """Queue one entry for ``stream``; never blocks on Redis.

        Raises:
            ConfigError: ``stream`` is not ``samples``, ``state`` or ``events``.
        """
        key = self._keys.get(stream)
        if key is None:
            raise ConfigError("stream", f"one of {sorted(STREAMS)}", stream)
        entry = (stream, encode(self.process, kind, payload))
        with self._lock:
            if len(self._queue) >= self._backlog_size:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append(entry)
        self._wake.set()

    def start(self) -> None:
        """Start the sending thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"rebellion-fleet-{self.process}", daemon=True
            )
            self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (up to ``timeout`` seconds) and stop the thread."""
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._client.close()

    def stats(self) -> dict[str, Any]:
        """Return counters: entries sent, dropped and pending, failures, connection state.

        ``pending`` counts the queued entries and the batch being sent: at most
        ``backlog + batch``, and ``backlog`` once a failed batch has been put back.
        """
        with self._lock:
            pending = len(self._queue) + self._in_flight
        return {
            "host_id": self.host_id,
            "process": self.process,
            "sent": self._sent,
            "dropped": self._dropped,
            "pending": pending,
            "backlog": self._backlog_size,
            "failures": self._failures,
            "connected": self._connected,
            "last_error": self._last_error,
        }

    def _run(self) -> None:
        delay = 0.0
        while True:
            if delay:
                self._closing.wait(delay)
            else:
                self._wake.wait(1.0)
            self._wake.clear()
            closing = self._closing.is_set()
            while True:
                with self._lock:
                    batch = [
                        self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))
                    ]
                    self._in_flight = len(batch)
                if not batch:
                    delay = 0.0
                    break
                if self._send(batch):
                    delay = 0.0
                    continue
                # Back off from 0.1 s to 5 s while Redis is down or full.
                delay = min(5.0, max(0.1, delay * 2))
                break
            if closing:
                return

    def _send(self, batch: list[_Entry]) -> bool:
        """Send ``batch``; put back what failed (oldest first); return True if all went."""
        pipe = self._client.pipeline(transaction=False)
        for stream, fields in batch:
            pipe.xadd(self._keys[stream], fields, maxlen=self.maxlen[stream], approximate=True)
        now = _now()
        pipe.zadd(self._hosts, {self.host_id: now})
        renew = now - self._renewed >= _RENEW_EVERY
        if renew:  # a host gone for good leaves nothing behind after `retention`
            for key in self._keys.values():
                pipe.expire(key, self._retention)
        try:
            results = pipe.execute(raise_on_error=False)
        except self._errors as error:
            return self._failed(batch, error)
        except Exception as error:  # never let the sending thread die: keep and retry
            _log.exception("fleet: unexpected error writing to Redis")
            return self._failed(batch, error)
        failed = [entry for entry, result in zip(batch, results, strict=False) if _bad(result)]
        if failed:
            self._sent += len(batch) - len(failed)
            return self._failed(failed, next(r for r in results if _bad(r)))
        with self._lock:
            self._in_flight = 0
        self._sent += len(batch)
        self._connected = True
        if renew:
            self._renewed = now
        return True

    def _failed(self, batch: list[_Entry], error: BaseException) -> bool:
        self._failures += 1
        if self._connected or self._last_error is None:
            _log.warning("fleet: cannot write to Redis (%s); keeping a backlog", error)
        self._connected = False
        self._last_error = f"{type(error).__name__}: {error}"
        with self._lock:
            room = self._backlog_size - len(self._queue)
            keep = batch[-room:] if room > 0 else []
            self._dropped += len(batch) - len(keep)
            self._queue.extendleft(reversed(keep))
            self._in_flight = 0
        return False


def _bad(result: object) -> bool:
    return isinstance(result, BaseException)


def _now() -> float:
    from .._clock import SYSTEM_CLOCK

    return SYSTEM_CLOCK.wall()


def _import_now() -> None:
    """Run, on the caller's thread, the imports a first connection makes lazily.

    redis-py reads its version through ``importlib.metadata`` (which imports ``email``)
    when it builds a connection, and ``getaddrinfo`` imports the idna codec. Left to the
    sender thread, a ``fork()`` while that thread held an import's module lock would leave
    the forked child's sender waiting on that lock for ever (a pre-forking server's
    workers never joining the fleet).
    """
    "localhost".encode("idna")
    try:
        from redis.utils import get_lib_version
    except ImportError:  # an older redis-py reads no metadata when it connects
        return
    get_lib_version()
