"""Prometheus naming rules for metric and label names, and label-set normalisation.

>>> check_metric_name("requests_total")
'requests_total'
>>> normalise_labels({"method": "GET", "code": 200}, "requests_total")
(('code', 'method'), ('200', 'GET'))
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import ConfigError

__all__ = [
    "LABEL_RULE",
    "NAME_RULE",
    "RESERVED_PREFIX",
    "LabelValue",
    "check_label_name",
    "check_metric_name",
    "normalise_labels",
]

LabelValue = str | int | float
"""What a label value may be given as; it is exported as ``str(value)``."""

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
RESERVED_PREFIX = "rebellion_"
NAME_RULE = (
    "a Prometheus metric name: letters, digits, '_' or ':', not starting with a digit "
    f"([a-zA-Z_:][a-zA-Z0-9_:]*), and not starting with {RESERVED_PREFIX!r} "
    "(reserved for resilience primitives)"
)
LABEL_RULE = (
    "a mapping of Prometheus label names (letters, digits or '_', not starting with a "
    "digit or '__': [a-zA-Z_][a-zA-Z0-9_]*) to str/int/float values"
)


def check_metric_name(name: object, parameter: str = "name") -> str:
    """Return ``name`` if it is a valid metric name of ours.

    Raises:
        ConfigError: ``name`` breaks the Prometheus naming rule or uses the reserved prefix.
    """
    if (
        not isinstance(name, str)
        or _METRIC_NAME.fullmatch(name) is None
        or name.startswith(RESERVED_PREFIX)
    ):
        raise ConfigError(parameter, NAME_RULE, name)
    return name


def check_label_name(label: object, metric: str, reserved: tuple[str, ...] = ()) -> str:
    """Return ``label`` if it is a valid label name for ``metric``.

    Raises:
        ConfigError: the label name breaks the rule, starts with ``__`` or is reserved
            by the metric's type (``le`` for histograms, ``quantile`` for summaries).
    """
    if not isinstance(label, str) or _LABEL_NAME.fullmatch(label) is None:
        raise ConfigError("labels", f"{LABEL_RULE} (metric {metric!r})", label)
    if label.startswith("__"):
        raise ConfigError(
            "labels", f"label names not starting with '__' (reserved; metric {metric!r})", label
        )
    if label in reserved:
        raise ConfigError(
            "labels", f"label names other than {reserved!r} (metric {metric!r})", label
        )
    return label


def normalise_labels(
    labels: Mapping[str, LabelValue] | None,
    metric: str,
    reserved: tuple[str, ...] = (),
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return ``(sorted label names, their values as strings)`` after checking both.

    Raises:
        ConfigError: ``labels`` is not a mapping, a name is invalid or a value is not a
            str, int or float; the message names ``labels`` and the metric.
    """
    if labels is None:
        return (), ()
    if not isinstance(labels, Mapping):
        raise ConfigError("labels", f"{LABEL_RULE} or None (metric {metric!r})", labels)
    names: list[str] = []
    values: list[str] = []
    for key in sorted(labels, key=str):
        check_label_name(key, metric, reserved)
        value = labels[key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(
                "labels", f"str/int/float label values (label {key!r} of {metric!r})", value
            )
        names.append(key)
        values.append(value if isinstance(value, str) else str(value))
    return tuple(names), tuple(values)
