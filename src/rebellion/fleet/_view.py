"""The hub's view of the fleet: read every host's streams, keep the latest state.

:class:`FleetView` runs in the hub's event loop. Every ``discover_every`` seconds it
reads the sorted set of hosts; it reads all their streams with one blocking ``XREAD``
from the last id it saw of each, so a hub that restarts catches up from what the
streams keep. A lost connection is retried with backoff (0.1 s doubling to 5 s) and
reading resumes from the same ids. Each batch of new host samples is handed to
``on_update`` (the hub's WebSocket fan-out) as it arrives.

A host or process is *stale* when nothing came from it for ``stale_intervals`` of its
own intervals (2.5 by default: a dead agent is stale within 3 intervals). Seen times
come from the stream ids, which Redis stamps, so agents' clocks need not agree.

>>> view = FleetView("redis://127.0.0.1:1/0")
>>> view.snapshot()
{'hosts': [], 'primitives': [], 'processes': [], 'redis': {'connected': False, 'error': None}}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, final

from .._clock import Clock
from .._validate import check_clock, check_number
from ..backends.redis import async_client, connection_errors
from ._keys import PREFIX, STREAMS, check_host_id, decode, hosts_key, stream_key
from ._member import primitive_state

__all__ = ["FleetView"]

_log = logging.getLogger("rebellion.fleet")


@dataclass(slots=True)
class _Host:
    interval: float = 1.0
    last_seen: float | None = None
    sample: dict[str, Any] | None = None
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class _Process:
    host: str
    name: str
    interval: float = 1.0
    last_seen: float = 0.0
    body: dict[str, Any] = field(default_factory=dict)


@final
class FleetView:
    """Follow every host's streams on Redis and answer what the fleet looks like now.

    Args:
        url: the Redis URL the agents publish to.
        prefix: their key prefix.
        stale_intervals: intervals of silence after which a host or process is stale.
        discover_every: seconds between looks for new hosts.
        block: seconds one ``XREAD`` waits for new entries.
        on_update: called with ``{"samples": [...]}`` for every batch of new samples.
        gather: seconds to wait after each read so entries arrive in batches.
        forget_after: seconds of silence after which a process, and a host, are dropped
            from the view (a stale one is listed as stale until then).
        clock: time source (``wall()`` is compared with the stream ids' times).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = PREFIX,
        stale_intervals: float = 2.5,
        discover_every: float = 1.0,
        block: float = 0.5,
        on_update: Callable[[dict[str, Any]], object] | None = None,
        gather: float = 0.05,
        forget_after: float = 86_400.0,
        clock: Clock | None = None,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._stale = check_number("stale_intervals", stale_intervals, minimum=1.0, maximum=1000)
        self._discover_every = check_number("discover_every", discover_every, minimum=0.01)
        self._block = check_number("block", block, minimum=0.01, maximum=60.0)
        self._gather = check_number("gather", gather, minimum=0.0, maximum=10.0)
        self._forget = check_number("forget_after", forget_after, minimum=1.0)
        self._clock = check_clock(clock)
        self._on_update = on_update
        self._client: Any = async_client(url, timeout=self._block + 5.0, connect_timeout=2.0)
        self._errors = connection_errors()
        self._hosts: dict[str, _Host] = {}
        self._known: set[str] = set()
        self._processes: dict[tuple[str, str], _Process] = {}
        self._ids: dict[str, bytes | str] = {}
        self._events: deque[dict[str, Any]] = deque(maxlen=200)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._connected = False
        self._error: str | None = None
        self._entries = 0
        self._reconnects = 0

    async def start(self) -> None:
        """Start following the streams."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="rebellion-fleet-view")

    async def stop(self) -> None:
        """Stop following and close the connection."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # redis-py may turn a cancelled read into a connection error: the loop then
            # sees _stopping and ends, but never wait on it forever.
            await asyncio.wait({task}, timeout=5.0)
        with contextlib.suppress(*self._errors, asyncio.TimeoutError):
            await asyncio.wait_for(self._client.aclose(), 2.0)

    async def _run(self) -> None:
        delay = 0.1
        discovered = -1e18
        while not self._stopping:
            try:
                now = self._clock.monotonic()
                if now - discovered >= self._discover_every or not self._ids:
                    await self._discover()
                    discovered = now
                if not self._ids:
                    await self._clock.sleep_async(self._block)
                    continue
                replies = await self._client.xread(
                    self._ids, count=500, block=int(self._block * 1000)
                )
                self._connected, self._error, delay = True, None, 0.1
                self._absorb(replies or [])
                # Let entries gather: one XREAD of every stream per ~50 ms instead of one
                # per entry keeps the hub's cost flat as agents are added.
                await self._clock.sleep_async(self._gather)
            except asyncio.CancelledError:
                raise
            except self._errors as error:
                if self._stopped():
                    return
                if self._connected or self._error is None:
                    _log.warning("fleet: Redis unreachable (%s); retrying", error)
                self._connected, self._error = False, f"{type(error).__name__}: {error}"
                self._reconnects += 1
                await self._clock.sleep_async(delay)
                delay = min(5.0, delay * 2)
            except Exception:  # a malformed entry must not end the hub's view
                _log.exception("fleet: reading the streams failed")
                await self._clock.sleep_async(delay)

    def _stopped(self) -> bool:
        return self._stopping

    async def _discover(self) -> None:
        # Hosts silent for longer than their streams live are gone: forget them.
        await self._client.zremrangebyscore(
            hosts_key(self._prefix), "-inf", self._clock.wall() - self._forget
        )
        members = await self._client.zrange(hosts_key(self._prefix), 0, -1)
        self._connected, self._error = True, None
        fresh: list[dict[str, Any]] = []
        for raw in members:
            host = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            if host in self._known:
                continue
            try:
                check_host_id(host)
            except ValueError:
                continue
            self._known.add(host)
            for stream in STREAMS:
                key = stream_key(self._prefix, host, stream)
                self._ids[key] = "0-0"
            # Catch up on every state and event the streams keep, but only the newest
            # sample: older ones are history, read on demand by host_samples().
            samples = stream_key(self._prefix, host, "samples")
            latest = await self._client.xrevrange(samples, count=1)
            if latest:
                entry_id, fields = latest[0]
                self._take(host, "samples", entry_id, fields, fresh)
                self._ids[samples] = entry_id
        self._push(fresh)

    def _absorb(self, replies: list[Any]) -> None:
        fresh: list[dict[str, Any]] = []
        for key, entries in replies:
            name = key.decode() if isinstance(key, bytes) else str(key)
            host, stream = self._parse_key(name)
            if host is None:
                continue
            for entry_id, fields in entries:
                self._take(host, stream, entry_id, fields, fresh)
                self._ids[name] = entry_id
        self._push(fresh)

    def _push(self, fresh: list[dict[str, Any]]) -> None:
        if fresh and self._on_update is not None:
            try:
                self._on_update({"samples": fresh})
            except Exception:
                _log.exception("fleet: update listener failed")

    def _parse_key(self, key: str) -> tuple[str | None, str]:
        head, _, stream = key.rpartition(":")
        start, end = head.find("{"), head.rfind("}")
        if start < 0 or end < start:
            return None, stream
        return head[start + 1 : end], stream

    def _take(
        self, host: str, stream: str, entry_id: Any, fields: Any, fresh: list[dict[str, Any]]
    ) -> None:
        decoded = decode(fields)
        if decoded is None:
            return
        process, kind, body = decoded
        if not isinstance(body, dict):
            return
        self._entries += 1
        seen = _id_seconds(entry_id)
        if kind == "sample":
            state = self._hosts.setdefault(host, _Host())
            state.interval = _positive(body.get("interval"), state.interval)
            state.last_seen = max(state.last_seen or 0.0, seen)
            state.sample = body
            fresh.append({"host": host, "received": self._clock.wall(), **_summary(body)})
        elif kind == "primitives":
            proc = self._processes.setdefault((host, process), _Process(host, process))
            proc.interval = _positive(body.get("interval"), proc.interval)
            proc.last_seen = max(proc.last_seen, seen)
            proc.body = body
        elif kind == "incident":
            incident = body.get("incident")
            if isinstance(incident, dict) and "id" in incident:
                incidents = self._hosts.setdefault(host, _Host()).incidents
                incidents[str(incident["id"])] = incident
                while len(incidents) > 200:
                    incidents.pop(next(iter(incidents)))
        elif kind in ("event", "alert"):
            self._events.append({"host": host, "process": process, "type": kind, **body})

    def _is_stale(self, last_seen: float | None, interval: float, now: float) -> bool:
        return last_seen is None or now - last_seen > self._stale * interval

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """Return ``{"hosts", "primitives", "processes", "redis"}`` as the API serves it.

        Args:
            now: the wall time staleness is judged at (default: the clock's).
        """
        now = self._clock.wall() if now is None else now
        self._prune(now)
        hosts = []
        for host_id in sorted(self._hosts):
            host = self._hosts[host_id]
            if host.sample is None:
                continue  # only incidents seen so far (a trimmed stream): not an agent yet
            hosts.append(
                {
                    "id": host_id,
                    "last_seen": host.last_seen,
                    "stale": self._is_stale(host.last_seen, host.interval, now),
                    "interval": host.interval,
                    **_summary(host.sample),
                    "incidents": [i for i in host.incidents.values() if i.get("status") == "open"],
                }
            )
        primitives, processes = [], []
        for (host_id, name), proc in sorted(self._processes.items()):
            stale = self._is_stale(proc.last_seen, proc.interval, now)
            listing = proc.body.get("primitives")
            processes.append(
                {
                    "host": host_id,
                    "process": name,
                    "pid": proc.body.get("pid"),
                    "role": proc.body.get("role"),
                    "last_seen": proc.last_seen,
                    "stale": stale,
                    "interval": proc.interval,
                    "primitives": len(listing) if isinstance(listing, list) else 0,
                }
            )
            for item in listing if isinstance(listing, list) else []:
                if not isinstance(item, dict):
                    continue
                stats = item.get("stats") if isinstance(item.get("stats"), dict) else {}
                primitives.append(
                    {
                        "host": host_id,
                        "process": name,
                        "kind": str(item.get("kind", "?")),
                        "name": str(item.get("name", "?")),
                        "state": primitive_state(stats),
                        "stale": stale,
                        "last_seen": proc.last_seen,
                        "stats": stats,
                    }
                )
        return {
            "hosts": hosts,
            "primitives": primitives,
            "processes": processes,
            "redis": {"connected": self._connected, "error": self._error},
        }

    def _prune(self, now: float) -> None:
        for key in [k for k, p in self._processes.items() if now - p.last_seen > self._forget]:
            del self._processes[key]
        for host_id in [
            h for h, s in self._hosts.items() if now - (s.last_seen or now) > self._forget
        ]:
            del self._hosts[host_id]

    def events(self) -> list[dict[str, Any]]:
        """Return the latest resilience events and alerts from every host, oldest first."""
        return list(self._events)

    def knows(self, host: str) -> bool:
        """True if ``host`` has published a sample."""
        return host in self._hosts and self._hosts[host].sample is not None

    async def host_samples(self, host: str, count: int) -> list[dict[str, Any]]:
        """Return up to ``count`` of ``host``'s latest samples, oldest first (from Redis)."""
        key = stream_key(self._prefix, check_host_id(host, "host"), "samples")
        entries = await self._client.xrevrange(key, count=count)
        samples = []
        for _, fields in reversed(entries):
            decoded = decode(fields)
            if decoded is not None and isinstance(decoded[2], dict):
                samples.append(decoded[2])
        return samples

    @property
    def redis_errors(self) -> tuple[type[BaseException], ...]:
        """The exceptions :meth:`host_samples` raises when Redis fails."""
        return self._errors

    def stats(self) -> dict[str, Any]:
        """Return the view's own counters."""
        return {
            "hosts": len(self._hosts),
            "processes": len(self._processes),
            "streams": len(self._ids),
            "entries": self._entries,
            "connected": self._connected,
            "reconnects": self._reconnects,
        }


def _summary(sample: dict[str, Any]) -> dict[str, Any]:
    """Return what the host list shows of a sample."""
    return {
        "at": sample.get("at"),
        "health": sample.get("health"),
        "mode": sample.get("mode"),
        "open_incidents": sample.get("incidents_open"),
    }


def _id_seconds(entry_id: Any) -> float:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.partition("-")[0]) / 1000.0


def _positive(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and value > 0 else default
