"""Where the fleet lives in Redis: key names, stream bounds and the entry format.

Every host has three streams, their keys sharing the hash tag ``{host}`` so that a Redis
Cluster keeps one host's streams on one shard:

* ``rebellion:fleet:{web-1}:samples``: the agent's host samples (``~SAMPLES_MAXLEN``);
* ``rebellion:fleet:{web-1}:state``: every process's primitives, once per interval
  (``~STATE_MAXLEN``);
* ``rebellion:fleet:{web-1}:events``: incidents, alerts and resilience events
  (``~EVENTS_MAXLEN``).

``rebellion:fleet:hosts`` is a sorted set of host ids scored by their last write, which
is how a hub finds the streams. An entry has three fields: ``p`` (the process), ``t``
(the message type) and ``d`` (the payload as JSON).

>>> stream_key("rebellion:fleet", "web-1", "samples")
'rebellion:fleet:{web-1}:samples'
>>> check_host_id("web 1")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rebellion.errors.ConfigError: host_id must be 1-200 characters of letters, digits ..., got 'web 1'
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from typing import Any

from .._json import jsonable
from ..errors import ConfigError

__all__ = [
    "EVENTS_MAXLEN",
    "PREFIX",
    "SAMPLES_MAXLEN",
    "STATE_MAXLEN",
    "STREAMS",
    "check_host_id",
    "decode",
    "default_host_id",
    "default_process",
    "encode",
    "hosts_key",
    "stream_key",
]

PREFIX = "rebellion:fleet"
"""Default key prefix of every fleet key."""

SAMPLES_MAXLEN = 300
"""Host samples kept per host: 5 minutes at 1 Hz (approximate trim, ``MAXLEN ~``)."""

STATE_MAXLEN = 100
"""Primitive listings kept per host (a hub needs only the latest of each process)."""

EVENTS_MAXLEN = 1000
"""Incidents, alerts and resilience events kept per host."""

STREAMS: dict[str, int] = {
    "samples": SAMPLES_MAXLEN,
    "state": STATE_MAXLEN,
    "events": EVENTS_MAXLEN,
}
"""Each stream of a host and its default bound."""

_ID = re.compile(r"[A-Za-z0-9._:@-]{1,200}")


def check_host_id(value: object, name: str = "host_id") -> str:
    """Return ``value`` if it can name a host or process in keys and URLs.

    Raises:
        ConfigError: it is not 1-200 letters, digits or ``._:@-``.
    """
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ConfigError(name, "1-200 characters of letters, digits and ._:@-", value)
    return value


def default_host_id() -> str:
    """Return this machine's host name, made safe for keys."""
    name = re.sub(r"[^A-Za-z0-9._:@-]", "-", socket.gethostname())[:200]
    return name or "localhost"


def default_process() -> str:
    """Return ``program:pid`` for this process (``python:1234``, ``gunicorn:77``)."""
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if program in ("", "-c", "-m", "-"):  # python -c / stdin: no script name to show
        program = "python"
    program = re.sub(r"[^A-Za-z0-9._@-]", "-", program.removesuffix(".py"))[:100] or "python"
    return f"{program}:{os.getpid()}"


def hosts_key(prefix: str) -> str:
    """Return the sorted set of host ids scored by last write (epoch seconds)."""
    return f"{prefix}:hosts"


def stream_key(prefix: str, host: str, stream: str) -> str:
    """Return the key of ``host``'s ``stream`` (``samples``, ``state`` or ``events``)."""
    return f"{prefix}:{{{host}}}:{stream}"


def encode(process: str, kind: str, payload: Any) -> dict[str, str]:
    """Return the fields of one stream entry."""
    return {"p": process, "t": kind, "d": json.dumps(jsonable(payload), separators=(",", ":"))}


def decode(fields: dict[Any, Any]) -> tuple[str, str, Any] | None:
    """Return ``(process, kind, payload)`` of an entry, or None if it is not ours."""
    try:
        process, kind, data = fields[b"p"], fields[b"t"], fields[b"d"]
        return process.decode(), kind.decode(), json.loads(data)
    except (KeyError, AttributeError, UnicodeDecodeError, ValueError):
        return None
