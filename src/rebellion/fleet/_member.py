"""Put a process's resilience primitives into the fleet: :func:`join` and :func:`leave`.

A member publishes the process's live primitives (every breaker, limiter, queue and pool
in the registry, with their statistics) once per ``interval`` to its host's ``state``
stream, and forwards resilience events to the ``events`` stream as they happen (at most
``max_events`` a second, the rest counted as suppressed). The listing doubles as the
process's heartbeat: a hub marks a process stale when it stops.

One line joins a service::

    import rebellion.fleet
    rebellion.fleet.join("redis://127.0.0.1:6379/0")

or, with no code at all, ``REBELLION_FLEET_URL=redis://...`` in its environment: the
process joins when it creates its first primitive.

>>> member = FleetMember("redis://127.0.0.1:1/0", host_id="web-1", process="api")
>>> member.publisher.process, member.interval
('api', 1.0)
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import Any, final

from .._clock import Clock
from .._events import Event, subscribe_all
from .._registry import Registry, registry
from .._validate import check_clock, check_number
from ._publisher import Publisher

__all__ = ["FleetMember", "join", "join_from_environment", "leave", "primitive_state"]

_log = logging.getLogger("rebellion.fleet")
_SKIPPED_SOURCES = ("ws-client-",)  # the monitor's own WebSocket buffers: noise


def primitive_state(stats: Any) -> str:
    """Return the one word that tells a primitive's state (as the dashboard shows it)."""
    if isinstance(stats, dict):
        for key in ("state", "mode", "status"):
            value = stats.get(key)
            if isinstance(value, str) and value:
                return value
        if stats.get("enabled") is False:
            return "disabled"
    return "active"


@final
class FleetMember:
    """Publish one process's primitives and events to the fleet.

    Args:
        url: the Redis URL.
        host_id: the host this process runs on (default: the host name).
        process: this process's name (default: ``program:pid``).
        interval: seconds between listings (the heartbeat).
        role: ``service`` for an application, ``agent`` for ``rebellion serve --publish``.
        max_events: events forwarded per second at most.
        registry: whose primitives to publish (default: the process-wide one).
        clock: time source for event timestamps.
        publisher_options: passed to :class:`Publisher` (backlog, maxlen, timeout...).
    """

    def __init__(
        self,
        url: str,
        *,
        host_id: str | None = None,
        process: str | None = None,
        interval: float = 1.0,
        role: str = "service",
        max_events: float = 200.0,
        registry: Registry = registry,
        clock: Clock | None = None,
        **publisher_options: Any,
    ) -> None:
        self.interval = check_number("interval", interval, minimum=0.05, maximum=3600.0)
        self._max_events = check_number("max_events", max_events, minimum=0.0, maximum=1e6)
        self._clock = check_clock(clock)
        self.url = url
        self.role = role
        self.publisher = Publisher(url, host_id=host_id, process=process, **publisher_options)
        self._registry = registry
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Any = None
        self._window = (0.0, 0)  # (second it started, events forwarded in it)
        self._suppressed = 0

    @property
    def host_id(self) -> str:
        """The host this member publishes as."""
        return self.publisher.host_id

    @property
    def process(self) -> str:
        """This process's name in the fleet."""
        return self.publisher.process

    def start(self) -> FleetMember:
        """Start publishing; return ``self``."""
        if self._thread is None:
            self.publisher.start()
            self._unsubscribe = subscribe_all(self._on_event)
            # The first listing is taken on the member's thread: join() may run while a
            # primitive is still being constructed (REBELLION_FLEET_URL joins then).
            self._thread = threading.Thread(
                target=self._run, name="rebellion-fleet-member", daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop publishing; what is queued gets up to two seconds to be sent."""
        self._stop.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        self.publisher.close()

    def publish_state(self) -> None:
        """Publish the process's primitives now (also done every ``interval``)."""
        try:
            listing = self._registry.snapshot()
        except Exception:  # a primitive's stats() failing must not stop the heartbeat
            _log.exception("fleet: reading the primitives failed")
            listing = []
        self.publisher.publish(
            "state",
            "primitives",
            {
                "at": self._clock.wall(),
                "interval": self.interval,
                "pid": os.getpid(),
                "role": self.role,
                "primitives": listing,
                "publisher": self.publisher.stats(),
                "events_suppressed": self._suppressed,
            },
        )

    def stats(self) -> dict[str, Any]:
        """Return the publisher's counters and the events suppressed by the rate bound."""
        return {**self.publisher.stats(), "events_suppressed": self._suppressed}

    def _run(self) -> None:
        while True:
            self.publish_state()
            if self._stop.wait(self.interval):
                return

    def _on_event(self, event: Event) -> None:
        source = str(getattr(event, "source", ""))
        if source.startswith(_SKIPPED_SOURCES):
            return
        now = self._clock.monotonic()
        started, count = self._window
        if now - started >= 1.0:
            started, count = now, 0
        if count >= self._max_events:
            self._suppressed += 1
            return
        self._window = (started, count + 1)
        fields = (
            {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
            if dataclasses.is_dataclass(event)
            else {}
        )
        fields.pop("source", None)
        at = fields.pop("at", None)
        self.publisher.publish(
            "events",
            "event",
            {"event": type(event).__name__, "source": source, "at": at, "fields": fields},
        )


_lock = threading.Lock()
_member: FleetMember | None = None
_joined_with: dict[str, Any] = {}


def join(
    url: str | None = None,
    *,
    host_id: str | None = None,
    process: str | None = None,
    interval: float | None = None,
    **options: Any,
) -> FleetMember:
    """Join this process to the fleet on Redis at ``url``; return the running member.

    A process has one member: joining again with the same URL returns it, joining with
    other settings replaces it.

    Args:
        url: the Redis URL (default: ``REBELLION_FLEET_URL``).
        host_id: the host's id in the fleet (default: the host name).
        process: this process's name (default: ``program:pid``).
        interval: seconds between listings, the heartbeat (default: 1).
        options: more :class:`FleetMember` options (``role``, ``max_events``, ``backlog``...).

    Raises:
        ConfigError: no URL given nor configured, or a parameter is out of range.
    """
    global _member
    if url is None:
        url = _configured_url()
        if url is None:
            from ..errors import ConfigError

            raise ConfigError("url", "a Redis URL (or set REBELLION_FLEET_URL)", None)
    with _lock:
        current = _member
        if current is not None:
            same = (
                current.url == url
                and (host_id is None or host_id == current.host_id)
                and (process is None or process == current.process)
                and (interval is None or interval == current.interval)
                and not options
            )
            if same:
                return current
        every = 1.0 if interval is None else interval
        created = FleetMember(url, host_id=host_id, process=process, interval=every, **options)
        if current is not None:
            current.close()
        _member = created.start()
        _joined_with.clear()
        _joined_with.update(url=url, host_id=host_id, process=process, interval=interval)
        _joined_with.update(options)
        return created


def leave() -> None:
    """Stop this process's membership (a no-op when it has not joined)."""
    global _member
    with _lock:
        current, _member = _member, None
        _joined_with.clear()
    if current is not None:
        current.close()


def _rejoin_after_fork() -> None:
    """Join again in a forked child (a pre-forking server): threads do not survive fork."""
    global _lock, _member
    _lock = threading.Lock()
    if _member is None:
        return
    _member = None
    settings = dict(_joined_with)
    if settings.get("process") is not None:  # one name per process: the child's is its own
        settings["process"] = f"{settings['process']}:{os.getpid()}"[:200]
    try:
        join(**settings)
    except Exception as error:
        _log.warning("fleet: could not join again after fork: %s", error)


os.register_at_fork(after_in_child=_rejoin_after_fork)


def _configured_url() -> str | None:
    from .. import config

    value = config.setting("fleet_url")
    return value if isinstance(value, str) and value else None


def join_from_environment() -> FleetMember | None:
    """Join with ``REBELLION_FLEET_URL`` if it is set and this process has not joined."""
    if _member is not None:
        return _member
    try:
        url = _configured_url()
        if url is None:
            return None
        return join(url)
    except Exception as error:  # a bad fleet URL must not break the service using it
        _log.warning("fleet: could not join from REBELLION_FLEET_URL: %s", error)
        return None
