"""Named instances and a listing of every live primitive, for the dashboard and /metrics.

Two things live here:

* the **named registry**: ``get_circuit_breaker(name, ...)`` and friends return the one
  instance registered under ``name``, creating it on first use; asking again with
  conflicting settings is a :class:`~rebellion.errors.ConfigError`, never a silent
  override;
* a weak **census** of every primitive constructed in the process, so the resilience
  panel can show breakers created directly with ``CircuitBreaker(...)`` too. The census
  lists one primitive per ``(kind, name)``: a newer instance under the same name
  *replaces* the older one in listings (a restarted component rebuilds its breakers;
  the dead ones must not linger until the garbage collector runs), and
  :meth:`Registry.retire` takes a closed primitive out at once.

>>> reg = Registry()
>>> class Thing:
...     kind = "thing"
...     def __init__(self, name): self.name = name
...     def stats(self): return {"name": self.name}
>>> a = reg.get_or_create("thing", "a", lambda: Thing("a"), {"size": 1})
>>> reg.get_or_create("thing", "a", lambda: Thing("a"), {"size": 1}) is a
True
>>> [entry["name"] for entry in reg.snapshot()]
['a']
>>> old, new = Thing("b"), Thing("b")
>>> reg.track(old); reg.track(new)
>>> [entry["name"] for entry in reg.snapshot()], next(p for p in reg if p.name == "b") is new
(['a', 'b'], True)
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar, final, runtime_checkable

from ._snapshot import Snapshot
from .errors import ConfigError

__all__ = ["Primitive", "Registry", "registry"]


@runtime_checkable
class Primitive(Protocol):
    """What the registry needs: a kind, a name and a snapshot of statistics."""

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    def stats(self) -> Mapping[str, Any]: ...


P = TypeVar("P")


@final
class Registry:
    """Thread-safe map of ``(kind, name)`` to primitive, plus a weak census of all."""

    def __init__(self, *, join_fleet: bool = False) -> None:
        # The process-wide registry joins the fleet (REBELLION_FLEET_URL) at its first
        # primitive, so a service joins with no code; others never do.
        self._join_fleet = join_fleet
        self._lock = threading.RLock()
        self._named: dict[tuple[str, str], tuple[object, Mapping[str, object]]] = {}
        # primitive -> the order it was tracked in (newest wins among equal names).
        self._census: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._order = itertools.count()

    def track(self, primitive: object) -> None:
        """Remember ``primitive`` weakly so listings include it while it is alive.

        A primitive tracked later with the same kind and name replaces this one in
        listings.
        """
        with self._lock:
            self._census[primitive] = next(self._order)
        if self._join_fleet:
            self._joined()

    def _joined(self) -> None:
        self._join_fleet = False
        if os.environ.get("REBELLION_FLEET_URL"):
            from .fleet import join_from_environment

            join_from_environment()

    def retire(self, primitive: object) -> None:
        """Drop ``primitive`` from listings (it was closed); named entries stay named."""
        with self._lock:
            self._census.pop(primitive, None)

    def get_or_create(
        self,
        kind: str,
        name: str,
        factory: Callable[[], P],
        settings: Mapping[str, object],
    ) -> P:
        """Return the ``kind`` registered as ``name``, creating it with ``factory``.

        Raises:
            ConfigError: ``name`` exists with settings that differ from ``settings``.
        """
        key = (kind, name)
        with self._lock:
            existing = self._named.get(key)
            if existing is None:
                created = factory()
                self._named[key] = (created, dict(settings))
                self._census[created] = next(self._order)
            else:
                instance, known = existing
                _compare(kind, name, known, settings)
                return instance  # type: ignore[return-value]
        if self._join_fleet:
            self._joined()
        return created

    def check_settings(self, kind: str, name: str, settings: Mapping[str, object]) -> object:
        """Return the primitive ``(kind, name)`` after checking ``settings`` against it.

        Raises:
            ConfigError: ``name`` is not registered, or a setting differs from (or was
                left out of) the registered ones.
        """
        with self._lock:
            existing = self._named.get((kind, name))
        if existing is None:
            raise ConfigError("name", f"the name of a registered {kind}", name)
        _compare(kind, name, existing[1], settings)
        return existing[0]

    def register(self, primitive: Primitive) -> None:
        """Register an existing primitive under its own name.

        Raises:
            ConfigError: another primitive of that kind already has the name.
        """
        key = (primitive.kind, primitive.name)
        with self._lock:
            existing = self._named.get(key)
            if existing is not None and existing[0] is not primitive:
                raise ConfigError("name", f"unique among registered {key[0]}s", key[1])
            self._named[key] = (primitive, {})
            self._census[primitive] = next(self._order)
        if self._join_fleet:
            self._joined()

    def get(self, kind: str, name: str) -> object | None:
        """Return the primitive registered as ``(kind, name)``, or ``None``."""
        with self._lock:
            entry = self._named.get((kind, name))
        return None if entry is None else entry[0]

    def named(self) -> list[tuple[str, str, object, Mapping[str, object]]]:
        """List every named primitive as ``(kind, name, instance, settings)``."""
        with self._lock:
            return [(k, n, inst, known) for (k, n), (inst, known) in self._named.items()]

    def update_settings(self, kind: str, name: str, settings: Mapping[str, object]) -> None:
        """Record new settings for ``(kind, name)`` after they were applied to it live.

        Later ``get_*`` calls compare against these (no-op if the name is unknown).
        """
        with self._lock:
            entry = self._named.get((kind, name))
            if entry is not None:
                self._named[(kind, name)] = (entry[0], dict(settings))

    def unregister(self, kind: str, name: str) -> None:
        """Forget ``(kind, name)``; the instance keeps working for its holders."""
        with self._lock:
            self._named.pop((kind, name), None)

    def clear(self) -> None:
        """Forget every named primitive and the census (tests call this between cases)."""
        with self._lock:
            self._named.clear()
            self._census = weakref.WeakKeyDictionary()

    def __iter__(self) -> Iterator[Any]:
        """Iterate the live primitives, one per ``(kind, name)``: named ones first."""
        with self._lock:
            named = [entry[0] for entry in self._named.values()]
            census = list(self._census.items())
        newest: dict[tuple[str, str], tuple[int, Any]] = {}
        for primitive, order in census:
            key = _key(primitive)
            held = newest.get(key)
            if held is None or order > held[0]:
                newest[key] = (order, primitive)
        taken = {_key(x) for x in named}
        others = [x for _, x in sorted(newest.values(), key=lambda e: e[0])]
        return iter(named + [x for x in others if _key(x) not in taken])

    def snapshot(self) -> list[dict[str, Any]]:
        """List every live primitive as ``{"kind", "name", "stats"}``, named ones first.

        A typed snapshot (:class:`~rebellion._snapshot.Snapshot`) also gives
        ``"measures"``: what each statistic is (``counter``, ``gauge``, ``ratio``,
        ``seconds``, ``info``), so exporters need no list of names.
        """
        listing: list[dict[str, Any]] = []
        for primitive in self:
            stats = primitive.stats()
            entry: dict[str, Any] = {
                "kind": primitive.kind,
                "name": primitive.name,
                "stats": dict(stats),
            }
            if isinstance(stats, Snapshot):
                entry["measures"] = {field: stats.measure(field) for field in stats}
            listing.append(entry)
        return listing


def _compare(
    kind: str, name: str, known: Mapping[str, object], settings: Mapping[str, object]
) -> None:
    for setting in sorted(settings):
        if setting not in known:
            raise ConfigError(
                setting,
                f"left out: {kind} {name!r} was registered without it",
                settings[setting],
            )
        if known[setting] != settings[setting]:
            raise ConfigError(
                setting,
                f"{known[setting]!r} as registered for {kind} {name!r}",
                settings[setting],
            )


def _key(primitive: Any) -> tuple[str, str]:
    return (str(getattr(primitive, "kind", "?")), str(getattr(primitive, "name", "?")))


registry = Registry(join_fleet=True)
"""The process-wide registry used by ``get_circuit_breaker`` and friends."""
