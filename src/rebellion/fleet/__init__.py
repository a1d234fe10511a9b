"""The fleet: many hosts and processes in one view, carried by Redis Streams.

Three parts, all on one Redis:

* **agents**: ``rebellion serve --publish redis://... [--host-id web-1]`` keeps
  monitoring its host locally and also publishes its samples, incidents and its own
  primitives;
* **services**: any process using the toolkit joins with ``rebellion.fleet.join(url)``
  (or ``REBELLION_FLEET_URL``) and publishes its breakers, limiters, queues and pools
  with their live state and events;
* **hubs**: ``rebellion serve --fleet redis://...`` reads every host's streams and serves
  ``GET /api/v1/fleet`` and the dashboard's fleet panel.

Redis memory stays bounded: each host has three streams trimmed with ``MAXLEN ~``
(:data:`SAMPLES_MAXLEN` samples, :data:`STATE_MAXLEN` primitive listings,
:data:`EVENTS_MAXLEN` events), so a host costs at most about
``300 x sample size + 100 x listing size + 1000 x event size`` (about 1 MB for a
typical host; Redis may keep up to one stream node, 100 entries, beyond each bound).
The streams expire a day after a host's last write.
A publisher keeps at most ``backlog`` entries while Redis is unreachable, dropping the
oldest and counting them; it never blocks the caller.

>>> from rebellion.fleet import Publisher, FleetView, join, leave
>>> sorted(STREAMS)
['events', 'samples', 'state']
"""

from __future__ import annotations

from ._keys import EVENTS_MAXLEN, PREFIX, SAMPLES_MAXLEN, STATE_MAXLEN, STREAMS
from ._member import FleetMember, join, join_from_environment, leave, primitive_state
from ._publisher import Publisher
from ._view import FleetView

__all__ = [
    "EVENTS_MAXLEN",
    "PREFIX",
    "SAMPLES_MAXLEN",
    "STATE_MAXLEN",
    "STREAMS",
    "FleetMember",
    "FleetView",
    "Publisher",
    "join",
    "join_from_environment",
    "leave",
    "primitive_state",
]
