"""Typed, frozen statistics snapshots with one vocabulary, readable as mappings.

A policy's ``stats()`` returns a frozen, slotted dataclass that subclasses
:class:`Snapshot`. Each field declares what it is, so exporters need no hand lists:

* ``counter``: a lifetime count that only grows (Prometheus ``_total``);
* ``gauge``: a current value (in flight, state level, a rate over a window);
* ``ratio``: a fraction in [0, 1];
* ``seconds``: a duration in seconds;
* ``info``: a label-like value (kind, name, state) or a setting, never a metric.

The vocabulary is shared: ``calls``, ``successes``, ``failures``, ``rejections``,
``in_flight``... A snapshot also reads as a read-only mapping (``snap["calls"]``,
``dict(snap)``, :meth:`Snapshot.as_dict`), and older key names listed in a class's
``legacy`` table still resolve, so code written against the dict form keeps working.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True, slots=True)
... class Demo(Snapshot):
...     kind: str = info()
...     calls: int = counter()
...     legacy = {"total": "calls"}
>>> snap = Demo("demo", 3)
>>> snap.calls, snap["calls"], snap["total"], dict(snap)
(3, 3, 3, {'kind': 'demo', 'calls': 3})
>>> [(f, Demo.measure(f)) for f in snap]
[('kind', 'info'), ('calls', 'counter')]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

__all__ = ["Snapshot", "counter", "gauge", "info", "ratio", "seconds"]


def _field(measure: str) -> Any:
    return dataclasses.field(metadata={"measure": measure})


def counter() -> Any:
    """Declare a lifetime count (exported as a Prometheus counter)."""
    return _field("counter")


def gauge() -> Any:
    """Declare a current value (exported as a gauge)."""
    return _field("gauge")


def ratio() -> Any:
    """Declare a fraction in [0, 1] (exported as a gauge)."""
    return _field("ratio")


def seconds() -> Any:
    """Declare a duration in seconds (exported as a gauge named ``..._seconds``)."""
    return _field("seconds")


def info() -> Any:
    """Declare a label or a setting: shown, never exported as a metric."""
    return _field("info")


class Snapshot(Mapping[str, Any]):
    """Base of every typed snapshot (subclasses are frozen, slotted dataclasses)."""

    __slots__ = ()
    legacy: ClassVar[Mapping[str, str]] = {}
    """Older dict keys and the field each now reads."""

    @classmethod
    def measure(cls, name: str) -> str:
        """Return what field ``name`` measures (``counter``, ``gauge``, ``ratio``...)."""
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name == name:
                return str(f.metadata.get("measure", "gauge"))
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (nested snapshots stay snapshots)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def __getitem__(self, key: str) -> Any:
        name = self.legacy.get(key, key)
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return (f.name for f in dataclasses.fields(self))  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(dataclasses.fields(self))  # type: ignore[arg-type]
