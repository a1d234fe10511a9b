"""Typed events and listener dispatch that never breaks the guarded call.

Events are frozen, slotted dataclasses named subject + past tense, with ``source``
(the primitive's name) and ``at`` (wall-clock seconds). Each primitive owns an
:class:`EventStream`; listeners passed as ``listeners=`` or subscribed later receive
its events. A listener that raises is logged once and skipped; the call goes on.

>>> from rebellion.testing import RecordingListener
>>> stream = EventStream("demo")
>>> recorder = RecordingListener()
>>> unsubscribe = stream.subscribe(recorder)
>>> stream.emit(Event(source="demo", at=0.0))
>>> len(recorder.events)
1
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any, ClassVar, final

from ._validate import check_callable

__all__ = ["Event", "EventStream", "Listener", "subscribe_all", "unsubscribe_all"]

logger = logging.getLogger("rebellion.events")


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event: who emitted it and when (wall-clock seconds).

    Each event class declares ``policy_kind``, the ``kind`` of the primitive that emits
    it (``"circuit_breaker"``...), so exporters need not guess it.
    """

    policy_kind: ClassVar[str] = ""
    source: str
    at: float


Listener = Callable[[Event], object]
"""A listener receives an event; it may return an awaitable (scheduled on the loop)."""

# Process-wide listeners (the dashboard, exporters). A plain list read without a lock:
# it is only ever replaced, never mutated in place, so readers see a consistent tuple.
_global_listeners: tuple[Listener, ...] = ()
_global_lock = threading.Lock()
_background: set[asyncio.Task[Any]] = set()
_reported: set[int] = set()


_streams: weakref.WeakSet[EventStream] = weakref.WeakSet()


def subscribe_all(listener: Listener) -> Callable[[], None]:
    """Subscribe ``listener`` to the events of every primitive in the process.

    Returns:
        A function that unsubscribes it.
    """
    global _global_listeners
    check_callable("listener", listener)
    with _global_lock:
        _global_listeners = (*_global_listeners, listener)
        for stream in list(_streams):
            stream._refresh()
    return lambda: unsubscribe_all(listener)


def unsubscribe_all(listener: Listener) -> None:
    """Remove a listener added with :func:`subscribe_all` (no error if absent)."""
    global _global_listeners
    with _global_lock:
        _global_listeners = tuple(x for x in _global_listeners if x is not listener)
        for stream in list(_streams):
            stream._refresh()


def _deliver(listener: Listener, event: Event) -> None:
    try:
        outcome = listener(event)
        if isawaitable(outcome):
            _schedule(listener, outcome)
    except Exception:
        _report(listener)


def _schedule(listener: Listener, awaitable: Any) -> None:
    async def runner() -> None:
        try:
            await awaitable
        except Exception:
            _report(listener)

    try:
        task = asyncio.get_running_loop().create_task(runner())
    except RuntimeError:
        # No loop in this thread: the coroutine can never run; close it quietly.
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()
        _report(listener)
        return
    _background.add(task)
    task.add_done_callback(_background.discard)


def _report(listener: Listener) -> None:
    key = id(listener)
    if key in _reported:
        return
    _reported.add(key)
    logger.exception("event listener %r raised; it is skipped (reported once)", listener)


@final
class EventStream:
    """The listeners of one primitive; ``bool(stream)`` is cheap for hot-path checks."""

    __slots__ = ("__weakref__", "_listeners", "_lock", "active", "source")

    def __init__(self, source: str, listeners: Iterable[Listener] = ()) -> None:
        self.source = source
        self._listeners: tuple[Listener, ...] = tuple(listeners)
        for listener in self._listeners:
            check_callable("listeners", listener, "a list of callables")
        self._lock = threading.Lock()
        # `active` is a plain attribute so hot paths test it without a method call.
        self.active = False
        with _global_lock:
            _streams.add(self)
            self._refresh()

    def _refresh(self) -> None:
        self.active = bool(self._listeners) or bool(_global_listeners)

    def __bool__(self) -> bool:
        return self.active

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add ``listener``; returns a function that removes it again."""
        check_callable("listener", listener)
        with self._lock:
            self._listeners = (*self._listeners, listener)
            self._refresh()
        return lambda: self.unsubscribe(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Remove ``listener`` (no error if it was not subscribed)."""
        with self._lock:
            self._listeners = tuple(x for x in self._listeners if x is not listener)
            self._refresh()

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to local then global listeners; never raises."""
        for listener in self._listeners:
            _deliver(listener, event)
        for listener in _global_listeners:
            _deliver(listener, event)
