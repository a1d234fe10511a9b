"""The one driver template: each policy states its decisions once, this makes the rest.

A policy's core says what to do; the template turns that into the sync and async call
paths, the ``@policy`` decorators, ``call``/``execute`` and ``with``/``async with``
blocks, with the fast paths written once here. Four shapes of policy:

* :class:`Gated` judges a call: admit it, then record how it ended (circuit breaker);
* :class:`Held` holds a slot while the call runs (bulkhead);
* :class:`Paced` waits for a turn before the call, with nothing to give back (rate
  limiters: in-process, keyed, shared through Redis);
* :class:`Scoped` bounds an awaited call in the caller's own task (timeout, hedge);

and :func:`drive_sync` / :func:`drive_async` run a policy that decides in steps, a
generator like tenacity's ``iter()`` (retry).
"""

from __future__ import annotations

from .gated import Gate, Gated
from .held import Held, Slots
from .paced import Bucket, Paced
from .scoped import Scoped
from .steps import drive_async, drive_sync

__all__ = [
    "Bucket",
    "Gate",
    "Gated",
    "Held",
    "Paced",
    "Scoped",
    "Slots",
    "drive_async",
    "drive_sync",
]
