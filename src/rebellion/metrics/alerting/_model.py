"""What the alerting engine hands out: alert snapshots, notifications, silences, matchers.

>>> alert_fingerprint("cpu_high", {"host": "a"}) == alert_fingerprint("cpu_high", {"host": "a"})
True
>>> Matcher("host", "=~", "web-.*").matches({"host": "web-1"})
True
>>> rfc3339(0.0)
'1970-01-01T00:00:00Z'
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import final

from ...errors import ConfigError
from ..severity import AlertSeverity

__all__ = [
    "AlertSnapshot",
    "AlertState",
    "Matcher",
    "Notification",
    "Silence",
    "alert_fingerprint",
    "check_labels",
    "rfc3339",
]

_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ZERO_TIME = "0001-01-01T00:00:00Z"


class AlertState(enum.StrEnum):
    """Where an alert is in its life: ``INACTIVE`` -> ``PENDING`` -> ``FIRING`` -> ``RESOLVED``."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


def check_labels(parameter: str, value: object) -> dict[str, str]:
    """Return ``value`` as a label dict (``None`` is empty); names and values must be strings.

    Raises:
        ConfigError: not a mapping of ``[A-Za-z_][A-Za-z0-9_]*`` names to strings.
    """
    if value is None:
        return {}
    rule = "a mapping of label names ([A-Za-z_][A-Za-z0-9_]*) to strings"
    if not isinstance(value, Mapping):
        raise ConfigError(parameter, rule, value)
    for key, item in value.items():
        if not isinstance(key, str) or not _LABEL_NAME.match(key) or not isinstance(item, str):
            raise ConfigError(parameter, rule, value)
    return dict(value)


def alert_fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """Return the identity of an alert: a stable hash of its rule and its labels."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(rule.encode())
    for key in sorted(labels):
        digest.update(b"\xff" + key.encode() + b"\xfe" + labels[key].encode())
    return digest.hexdigest()


def rfc3339(wall: float | None) -> str:
    """Format wall-clock seconds as an RFC 3339 UTC time (``None``: Alertmanager's zero time)."""
    if wall is None:
        return _ZERO_TIME
    moment = datetime.fromtimestamp(wall, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


@final
@dataclass(frozen=True, slots=True)
class AlertSnapshot:
    """A snapshot of one alert (a rule applied to one label set).

    Times named ``*_at`` are on the manager's clock (monotonic seconds, like the ``at``
    of :meth:`AlertManager.observe`); ``starts_at_wall``/``ends_at_wall`` are wall-clock
    seconds for receivers.
    """

    rule: str
    fingerprint: str
    state: AlertState
    severity: AlertSeverity
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    value: float | None
    active_since: float | None
    fired_at: float | None
    resolved_at: float | None
    starts_at_wall: float | None
    ends_at_wall: float | None
    silenced: bool = False

    def to_dict(self) -> dict[str, object]:
        """Return the alert as an Alertmanager-style JSON-serialisable dict."""
        firing = self.state is AlertState.FIRING
        return {
            "status": "firing" if firing else "resolved",
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": rfc3339(self.starts_at_wall),
            "endsAt": _ZERO_TIME if firing else rfc3339(self.ends_at_wall),
            "generatorURL": "",
            "fingerprint": self.fingerprint,
            "value": self.value,
        }


@final
@dataclass(frozen=True, slots=True)
class Notification:
    """One message to receivers: the alerts of one group that changed or are due again.

    Attributes:
        group_key: the group's identity (``rule`` and ``group_by`` label values).
        group_labels: the ``group_by`` labels shared by every alert of the group.
        status: ``"firing"`` if any alert in it fires, else ``"resolved"``.
        alerts: firing alerts first, then the ones resolved since the last notification.
        sequence: 1, 2, 3, ... per group, in the order notifications were made.
        idempotency_key: ``"<group fingerprint>:<status>:<epoch>.<sequence>"``; a receiver
            that sees the same key twice is seeing a retry of the same notification.
        at: wall-clock seconds when the notification was made.
        stream: the group and the manager's epoch: sequences count within a stream.
    """

    group_key: str
    group_labels: Mapping[str, str]
    status: str
    alerts: tuple[AlertSnapshot, ...]
    sequence: int
    idempotency_key: str
    at: float
    receiver: str = "rebellion"
    truncated: int = 0
    stream: str = ""

    @property
    def firing(self) -> tuple[AlertSnapshot, ...]:
        """Return the firing alerts of this notification."""
        return tuple(a for a in self.alerts if a.state is AlertState.FIRING)

    @property
    def resolved(self) -> tuple[AlertSnapshot, ...]:
        """Return the alerts this notification reports as resolved."""
        return tuple(a for a in self.alerts if a.state is not AlertState.FIRING)

    def to_payload(self) -> dict[str, object]:
        """Return an Alertmanager webhook (version 4) body, plus our sequence and key."""
        common = _common([a.labels for a in self.alerts])
        annotations = _common([a.annotations for a in self.alerts])
        return {
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": self.truncated,
            "status": self.status,
            "receiver": self.receiver,
            "groupLabels": dict(self.group_labels),
            "commonLabels": common,
            "commonAnnotations": annotations,
            "externalURL": "",
            "alerts": [a.to_dict() for a in self.alerts],
            "sequence": self.sequence,
            "idempotencyKey": self.idempotency_key,
        }


def _common(items: list[Mapping[str, str]]) -> dict[str, str]:
    if not items:
        return {}
    first = dict(items[0])
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in items[1:])}


_OPS = ("=", "!=", "=~", "!~")


@final
@dataclass(frozen=True, slots=True)
class Matcher:
    """A label matcher as in Alertmanager: ``=``, ``!=``, ``=~`` and ``!~`` (full match).

    A missing label reads as the empty string, so ``Matcher("team", "=", "")`` matches
    alerts without a ``team`` label.

    Raises:
        ConfigError: a bad label name, operator, value or regular expression.
    """

    name: str
    op: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _LABEL_NAME.match(self.name):
            raise ConfigError("name", "a label name ([A-Za-z_][A-Za-z0-9_]*)", self.name)
        if self.op not in _OPS:
            raise ConfigError("op", "one of '=' | '!=' | '=~' | '!~'", self.op)
        if not isinstance(self.value, str):
            raise ConfigError("value", "a string", self.value)
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_regex", re.compile(self.value))
            except re.error as error:
                rule = f"a valid regular expression ({error})"
                raise ConfigError("value", rule, self.value) from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` satisfy this matcher."""
        actual = labels.get(self.name, "")
        if self._regex is not None:
            hit = self._regex.fullmatch(actual) is not None
            return hit if self.op == "=~" else not hit
        return (actual == self.value) if self.op == "=" else (actual != self.value)


@final
@dataclass(frozen=True, slots=True)
class Silence:
    """Mute notifications of matching alerts from ``starts_at`` until ``ends_at``.

    Times are on the manager's clock. Silenced alerts keep their state and history;
    they are only left out of notifications.
    """

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    comment: str = ""
    created_by: str = ""

    def active(self, now: float) -> bool:
        """Return whether the silence is in force at ``now``."""
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether every matcher accepts ``labels``."""
        return all(m.matches(labels) for m in self.matchers)
