"""Alert groups and when they notify, the way Alertmanager users expect.

Alerts with the same values of the ``group_by`` labels share a group (``group_by=None``:
every alert is its own group). A new group waits ``group_wait`` before its first
notification, so alerts that fire together arrive together. After that a group that
changed (an alert fired, resolved, or a silence ended) notifies at most once per
``group_interval``; a group with nothing new repeats its firing alerts every
``repeat_interval`` (a rule's own ``repeat_interval`` replaces the default; a group follows
its most eager alert). Silenced alerts
stay in the group but are left out of notifications, and a group whose notifiable set
is empty sends nothing. Everything here runs under the manager's lock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import final

from ._model import AlertSnapshot, Notification, alert_fingerprint
from .rules import Series

__all__ = ["Group", "Grouper"]


def _render_key(labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


@final
class Group:
    """The alerts sharing one set of ``group_by`` label values."""

    __slots__ = (
        "fingerprint",
        "key",
        "labels",
        "last_flush",
        "last_notified",
        "last_sent",
        "members",
        "next_flush",
        "resolved",
        "sequence",
    )

    def __init__(self, key: str, labels: dict[str, str], due: float) -> None:
        self.key = key
        self.labels = labels
        self.fingerprint = alert_fingerprint("group", {"key": key})
        self.members: dict[str, Series] = {}
        self.resolved: dict[str, AlertSnapshot] = {}
        self.last_sent: frozenset[str] = frozenset()
        self.last_flush: float | None = None
        self.last_notified = -math.inf
        self.next_flush = due
        self.sequence = 0


@final
class Grouper:
    """Route firing and resolved alerts into groups and decide when groups notify."""

    def __init__(
        self,
        group_by: tuple[str, ...] | None,
        group_wait: float,
        group_interval: float,
        repeat_interval: float,
        receiver: str,
        epoch: str,
    ) -> None:
        self.group_by = group_by
        self.group_wait = group_wait
        self.group_interval = group_interval
        self.repeat_interval = repeat_interval
        self.receiver = receiver
        self.epoch = epoch
        self.groups: dict[str, Group] = {}
        # Sequences outlive their groups: a group that empties and comes back continues
        # its numbering, so an idempotency key is never reused within one epoch.
        self._sequences: dict[str, int] = {}
        self.notifications = 0
        self.to_wall: Callable[[float], float] = float

    def _group_of(self, series: Series, now: float) -> Group:
        if self.group_by is None:
            labels = dict(series.labels)
        else:
            labels = {k: series.labels.get(k, "") for k in self.group_by}
        key = _render_key(labels)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, labels, now + self.group_wait)
            group.sequence = self._sequences.get(key, 0)
        return group

    def fired(self, series: Series, now: float) -> float:
        """Add a newly firing alert; return the group's next flush time."""
        group = self._group_of(series, now)
        series.group = group
        group.members[series.fingerprint] = series
        group.resolved.pop(series.fingerprint, None)
        return self._changed(group, now)

    def resolved(self, series: Series, snapshot: AlertSnapshot, now: float) -> float:
        """Move a resolved alert out of its group; return the group's next flush time."""
        group = series.group
        series.group = None
        if not isinstance(group, Group):
            return math.inf
        group.members.pop(series.fingerprint, None)
        if series.notified:
            group.resolved[series.fingerprint] = snapshot
            series.notified = False
        elif not group.members and not group.resolved and group.last_flush is not None:
            self.groups.pop(group.key, None)
            return math.inf
        return self._changed(group, now)

    def _changed(self, group: Group, now: float) -> float:
        if group.last_flush is not None:
            group.next_flush = min(
                group.next_flush, max(now, group.last_flush + self.group_interval)
            )
        return group.next_flush

    def touch_all(self, now: float) -> float:
        """Re-check every group soon (a silence started or ended); return the earliest flush."""
        earliest = math.inf
        for group in self.groups.values():
            earliest = min(earliest, self._changed(group, now))
        return earliest

    def next_due(self) -> float:
        """Return the earliest time a group wants to flush."""
        return min((g.next_flush for g in self.groups.values()), default=math.inf)

    def flush_due(
        self,
        now: float,
        silenced: Callable[[Mapping[str, str]], bool],
        snapshot: Callable[[Series, bool], AlertSnapshot],
    ) -> list[Notification]:
        """Flush every group due at ``now``; return the notifications to send, in order."""
        out: list[Notification] = []
        for group in [g for g in self.groups.values() if g.next_flush <= now]:
            note = self._flush(group, now, silenced, snapshot)
            if note is not None:
                out.append(note)
        return out

    def _flush(
        self,
        group: Group,
        now: float,
        silenced: Callable[[Mapping[str, str]], bool],
        snapshot: Callable[[Series, bool], AlertSnapshot],
    ) -> Notification | None:
        firing = [s for s in group.members.values() if not silenced(s.labels)]
        resolved = [a for a in group.resolved.values() if not silenced(a.labels)]
        group.resolved.clear()
        current = frozenset(s.fingerprint for s in firing)
        # A rule's own repeat_interval replaces the default; a group follows its most eager.
        default = self.repeat_interval
        repeat = min(
            (default if s.rule.repeat_interval is None else s.rule.repeat_interval for s in firing),
            default=default,
        )
        send = bool(resolved) or (bool(current) and current != group.last_sent)
        send = send or (bool(firing) and now >= group.last_notified + repeat)
        group.last_sent = current
        group.last_flush = now
        note = None
        if send:
            group.sequence += 1
            self._sequences[group.key] = group.sequence
            group.last_notified = now
            for s in firing:
                s.notified = True
            status = "firing" if firing else "resolved"
            alerts = tuple(snapshot(s, False) for s in firing) + tuple(resolved)
            note = Notification(
                group_key=group.key,
                group_labels=dict(group.labels),
                status=status,
                alerts=alerts,
                sequence=group.sequence,
                idempotency_key=f"{group.fingerprint}:{status}:{self.epoch}.{group.sequence}",
                at=self.to_wall(now),
                receiver=self.receiver,
                stream=f"{group.fingerprint}.{self.epoch}",
            )
            self.notifications += 1
        if firing:
            group.next_flush = group.last_notified + repeat
        elif group.members:
            group.next_flush = math.inf  # only silenced alerts: a silence change re-checks
        else:
            group.next_flush = math.inf
            self.groups.pop(group.key, None)
        return note
