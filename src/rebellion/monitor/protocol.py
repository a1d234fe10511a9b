"""The WebSocket vocabulary of the monitor: what the server sends, what a client may say.

The server publishes ``sample``, ``alert``, ``event`` and ``heartbeat`` messages, and
answers a malformed client message with ``{"type": "error", "error": "..."}``. A client
sends ``{"type": "pong"}`` after heartbeats, and ``{"type": "subscribe", "types": [...],
"metrics": [...]}`` to narrow its stream (both fields optional, each a bounded list).

>>> types, metrics = parse_client_message('{"type": "subscribe", "types": ["sample"]}',
...                                       MESSAGE_TYPES, ())
>>> sorted(types), metrics
(['heartbeat', 'sample'], ())
>>> parse_client_message('{"type": "subscribe", "types": [{}]}', MESSAGE_TYPES, ())
Traceback (most recent call last):
...
rebellion.monitor.protocol.BadMessage: types must be a list ... got {} in the list
"""

from __future__ import annotations

import json
import reprlib

__all__ = ["CLIENT_TYPES", "MESSAGE_TYPES", "BadMessage", "parse_client_message"]

MESSAGE_TYPES = frozenset({"sample", "alert", "event", "incident", "heartbeat", "fleet"})
"""The ``type`` of every message the server publishes (it also answers ``error``)."""

CLIENT_TYPES = frozenset({"subscribe", "pong"})
"""The ``type`` of every message a client may send."""

MAX_TYPES = 16
MAX_PATTERNS = 64
MAX_PATTERN_LENGTH = 200

_brief = reprlib.Repr()
_brief.maxstring = 60
_brief.maxother = 60


class BadMessage(ValueError):
    """A client message that cannot be applied; its text is what the client is told."""


def parse_client_message(
    text: str, types: frozenset[str], metrics: tuple[str, ...]
) -> tuple[frozenset[str], tuple[str, ...]]:
    """Return the subscription after ``text``: a pong keeps it, a subscribe replaces it.

    Args:
        text: the client's message.
        types: the message types the client receives now.
        metrics: the metric patterns the client receives now (empty: all).

    Returns:
        The new ``(types, metrics)``; ``heartbeat`` is always among the types.

    Raises:
        BadMessage: the message is not JSON, not a known type, or a field has the wrong
            shape; the subscription is then unchanged.
    """
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise BadMessage('not JSON: send an object such as {"type": "pong"}') from None
    if not isinstance(message, dict):
        raise BadMessage(f'expected a JSON object with a "type", got {_brief.repr(message)}')
    kind = message.get("type")
    if kind == "pong":
        return types, metrics
    if kind != "subscribe":
        raise BadMessage(f"type must be one of {sorted(CLIENT_TYPES)}, got {_brief.repr(kind)}")
    unknown = sorted(set(message) - {"type", "types", "metrics"})
    if unknown:
        raise BadMessage(f"subscribe takes types and metrics, got {_brief.repr(unknown)}")
    if "types" in message:
        chosen = _strings(message["types"], "types", MAX_TYPES, MESSAGE_TYPES)
        types = frozenset(chosen) | {"heartbeat"}
    if "metrics" in message:
        metrics = _strings(message["metrics"], "metrics", MAX_PATTERNS, None)
    return types, metrics


def _strings(
    value: object, name: str, limit: int, choices: frozenset[str] | None
) -> tuple[str, ...]:
    if choices is not None:
        rule = f"a list of at most {limit} of {sorted(choices)}"
    else:
        rule = f"a list of at most {limit} patterns of 1 to {MAX_PATTERN_LENGTH} characters"
    if not isinstance(value, list) or len(value) > limit:
        raise BadMessage(f"{name} must be {rule}, got {_brief.repr(value)}")
    for item in value:
        if (
            not isinstance(item, str)
            or not 0 < len(item) <= MAX_PATTERN_LENGTH
            or (choices is not None and item not in choices)
        ):
            raise BadMessage(f"{name} must be {rule}, got {_brief.repr(item)} in the list")
    return tuple(value)
