"""The monitor's heartbeat: sample the host, understand it, keep it, stream it.

Every ``interval`` seconds :meth:`MonitorService.tick` takes a host sample, runs the
vectorised transformer over every series at once (statistics, anomaly scores,
trend and forecast), feeds the alert engine, buffers the values for the history
store (flushed off the event loop every ``flush_every`` ticks) and publishes one
``sample`` message to the WebSocket hub. With an incident tracker, every incident that
opens, changes or resolves is published as ``{"type": "incident", "incident": {...}}``
(the object ``GET /api/v1/incidents`` returns) and the alert engine sees
``incidents.open`` (1 while an incident is open), so alert rules can fire on incidents.
Resilience events (breaker transitions, rejections, drops) are forwarded to the hub as
``event`` messages as they happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, final

from .._clock import Clock
from .._events import Event, subscribe_all
from .._json import jsonable
from .._registry import registry
from .._validate import check_clock, check_int, check_number
from .host import HostCollector, HostSample
from .hub import HUB_BUFFER_PREFIX, Hub
from .store import HistoryStore

__all__ = ["MonitorService"]

_log = logging.getLogger("rebellion.monitor")

_LABELS = {
    "disk": ("device", "disk_device"),
    "net": ("interface", "net_interface"),
    "fs": ("mount", "fs"),
    "cgroup": ("cgroup", "cgroup"),
    "temp": ("sensor", "temperature_celsius"),
    "fan": ("sensor", "fan_rpm"),
}
"""Bracketed instance -> (Prometheus label, metric family prefix)."""


def _prometheus_name(name: str) -> str:
    return "host_" + "".join(c if c.isalnum() else "_" for c in name)


@final
class MonitorService:
    """Sample, analyse, store and stream host metrics; expose what the API serves.

    Args:
        store: where history goes.
        host: the sampler (default: a :class:`HostCollector` on ``clock``).
        hub: the WebSocket fan-out (default: a new :class:`Hub`).
        interval: seconds between samples.
        flush_every: ticks between history flushes.
        clock: time source.
        analyser: optional object with ``analyse(values) -> dict[metric, dict]``.
        alerts: optional alert engine with ``observe_sample(at, values, analysis)`` and
            ``snapshot()``.
        metrics: optional :class:`~rebellion.metrics.MetricsCollector`; host values are
            set as ``host_*`` gauges on it every tick (for ``/metrics``).
        health: optional object with ``async start()``, ``async stop()`` and
            ``status()`` (see :class:`~rebellion.monitor.health.MonitorHealth`), run with
            the service.
        events: forward every resilience event to the hub as ``event`` messages.
        incidents: optional :class:`~rebellion.monitor.incidents.IncidentTracker`.
    """

    def __init__(
        self,
        store: HistoryStore,
        *,
        host: HostCollector | None = None,
        hub: Hub | None = None,
        interval: float = 1.0,
        flush_every: int = 10,
        clock: Clock | None = None,
        analyser: Any = None,
        alerts: Any = None,
        metrics: Any = None,
        health: Any = None,
        events: bool = True,
        incidents: Any = None,
    ) -> None:
        self._clock = check_clock(clock)
        self.interval = check_number("interval", interval, minimum=0.05, maximum=3600.0)
        self._flush_every = check_int("flush_every", flush_every, minimum=1)
        self.store = store
        self.host = host if host is not None else HostCollector(clock=self._clock)
        self.hub = hub if hub is not None else Hub(clock=self._clock)
        self.analyser = analyser
        self.alerts = alerts
        self.metrics = metrics
        self.health = health
        self.incidents = incidents
        self._gauges: dict[str, Any] = {}
        self._forward_events = events
        self._latest: dict[str, Any] | None = None
        self._ticks = 0
        self._tick_seconds: deque[float] = deque(maxlen=120)
        self._task: asyncio.Task[None] | None = None
        self._recent_events: deque[dict[str, Any]] = deque(maxlen=200)
        self._unsubscribe: Any = None
        self._loop_ref: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._relays: list[Callable[[str, dict[str, Any]], None]] = []
        self._companions: list[Any] = []

    @property
    def ready(self) -> bool:
        """True once the first sample has been taken and the loop is running."""
        return self._latest is not None and self._task is not None and not self._task.done()

    def add_relay(self, relay: Callable[[str, dict[str, Any]], None]) -> None:
        """Also hand every ``sample``, ``incident`` and ``alert`` message to ``relay``.

        The relay runs on the event loop, so it must not block (the fleet publisher
        only queues); an exception in it is logged and the tick goes on.
        """
        self._relays.append(relay)

    def add_companion(self, companion: Any) -> None:
        """Run ``companion`` (``async start()`` / ``async stop()``) with the service."""
        self._companions.append(companion)

    @property
    def companions(self) -> tuple[Any, ...]:
        """What runs with the service (the fleet agent or hub links), in start order."""
        return tuple(self._companions)

    def _relay(self, kind: str, payload: dict[str, Any]) -> None:
        for relay in self._relays:
            try:
                relay(kind, payload)
            except Exception:
                _log.exception("relay of %s failed", kind)

    def snapshot(self) -> dict[str, Any] | None:
        """Return the latest analysed sample, or None before the first tick."""
        return self._latest

    def recent_events(self) -> list[dict[str, Any]]:
        """Return the last resilience events, oldest first."""
        return list(self._recent_events)

    async def start(self) -> None:
        """Take a first sample and start the sampling loop."""
        if self._task is not None and not self._task.done():
            return
        self._loop_ref = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        if self._forward_events and self._unsubscribe is None:
            self._unsubscribe = subscribe_all(self._on_event)
        await self.tick()
        self._task = asyncio.create_task(self._loop(), name="rebellion-monitor")
        if self.health is not None:
            await self.health.start()
        for companion in self._companions:
            await companion.start()

    async def stop(self) -> None:
        """Stop sampling, close the hub's clients and flush the history."""
        for companion in reversed(self._companions):
            try:
                await companion.stop()
            except Exception:
                _log.exception("stopping %r failed", companion)
        if self.health is not None:
            await self.health.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.hub.close()
        await asyncio.to_thread(self.store.flush)

    async def _loop(self) -> None:
        next_at = self._clock.monotonic() + self.interval
        while True:
            await self._clock.sleep_async(next_at - self._clock.monotonic())
            try:
                await self.tick()
            except Exception:  # one bad tick must not end monitoring
                _log.exception("monitor tick failed")
            next_at += self.interval
            now = self._clock.monotonic()
            if next_at < now:  # fell behind (suspended laptop): skip, don't burst
                next_at = now + self.interval

    async def tick(self) -> dict[str, Any]:
        """Sample, analyse, store and publish once; return the published sample."""
        started = self._clock.monotonic()
        sample = self.host.sample()
        analysis = self._analyse(sample)
        message = {
            "at": sample.at,
            "values": jsonable(sample.values),
            "analysis": analysis,
            "processes": [p.to_dict() for p in sample.processes],
            "disks": jsonable(sample.disks),
        }
        observed: Mapping[str, float] = sample.values
        if self.incidents is not None:
            observed = {**sample.values, "incidents.open": float(self._track(sample, analysis))}
        if self.alerts is not None:
            try:
                changed = self.alerts.observe_sample(sample.at, observed, analysis)
            except Exception:
                _log.exception("alert evaluation failed")
                changed = ()
            for alert in changed or ():
                self.hub.publish("alert", {"alert": jsonable(alert)})
                self._relay("alert", {"alert": jsonable(alert)})
        self.store.append(sample.at, sample.values)
        if self.metrics is not None:
            self._export(sample.values)
        self._ticks += 1
        if self._ticks % self._flush_every == 0:
            await asyncio.to_thread(self.store.flush)
        self._latest = message
        self.hub.publish("sample", message)
        self._relay("sample", message)
        self._tick_seconds.append(self._clock.monotonic() - started)
        return message

    def _track(self, sample: HostSample, analysis: dict[str, Any]) -> int:
        """Feed the incident tracker; publish what changed; return open incidents."""
        assert self.incidents is not None
        try:
            changed = self.incidents.observe(sample.at, sample.values, analysis)
        except Exception:
            _log.exception("incident tracking failed")
            changed = []
        for incident in changed:
            self.hub.publish("incident", {"incident": jsonable(incident)})
            self._relay("incident", {"incident": jsonable(incident)})
        return int(self.incidents.open_count())

    def _export(self, values: Mapping[str, float]) -> None:
        gauges = self._gauges
        for name, value in values.items():
            gauge = gauges.get(name)
            if gauge is None:
                gauge = gauges[name] = self._gauge_for(name)
            gauge.set(value)

    def _gauge_for(self, name: str) -> Any:
        """Return the gauge child a host value is exported to (cores become a label)."""
        assert self.metrics is not None
        if name.startswith("cpu.core"):
            core = name.removeprefix("cpu.core")
            return self.metrics.get_gauge(
                "host_cpu_core_percent", {"core": core}, help="CPU busy % per core"
            )
        group, bracket, rest = name.partition("[")
        if bracket and "]" in rest:
            # disk[sda].read_bps -> host_disk_device_read_bps{device="sda"}
            instance, _, field = rest.partition("]")
            label, family = _LABELS.get(group, ("instance", group))
            metric = _prometheus_name(f"{family}_{field.lstrip('.')}".rstrip("_"))
            return self.metrics.get_gauge(metric, {label: instance}, help=f"{metric} by {label}")
        metric = _prometheus_name(name)
        return self.metrics.get_gauge(metric, help=f"host value {name}")

    def _analyse(self, sample: HostSample) -> dict[str, Any]:
        if self.analyser is None:
            return {}
        try:
            return jsonable(self.analyser.analyse(sample.values))  # type: ignore[no-any-return]
        except Exception:
            _log.exception("analysis failed")
            return {}

    def _on_event(self, event: Event) -> None:
        source = str(getattr(event, "source", ""))
        if source.startswith(HUB_BUFFER_PREFIX):
            return  # the hub's own buffers: forwarding their drops would feed back
        fields = (
            {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
            if dataclasses.is_dataclass(event)
            else {}
        )
        fields.pop("source", None)
        at = fields.pop("at", None)
        payload = {
            "event": type(event).__name__,
            "source": source,
            "at": jsonable(at),
            "fields": jsonable(fields),
        }
        loop = self._loop_ref
        if loop is None or threading.get_ident() == self._loop_thread:
            self._publish_event(payload)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._publish_event, payload)

    def _publish_event(self, payload: dict[str, Any]) -> None:
        self._recent_events.append(payload)
        self.hub.publish("event", payload)

    def resilience(self) -> list[dict[str, Any]]:
        """Return every registered primitive's snapshot, JSON-ready."""
        listing: list[dict[str, Any]] = jsonable(registry.snapshot())
        return listing

    def stats(self) -> dict[str, Any]:
        """Return the service's own cost and counters."""
        costs = sorted(self._tick_seconds)
        return {
            "ticks": self._ticks,
            "interval": self.interval,
            "tick_ms_p50": 1000 * costs[len(costs) // 2] if costs else None,
            "tick_ms_max": 1000 * costs[-1] if costs else None,
            "host": self.host.stats(),
            "store": self.store.stats(),
            "hub": self.hub.stats(),
            "incidents_open": None if self.incidents is None else self.incidents.open_count(),
        }
