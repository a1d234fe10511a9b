"""When a read-modify-write of plain attributes needs no lock.

On a CPython build with the GIL, a thread can only be switched out where the
interpreter checks its *eval breaker*: at calls (into Python or C), at backward jumps
and at the start of a Python frame. A sequence of attribute loads and stores on
slotted objects, int/float arithmetic, comparisons, truth tests of builtin containers
and forward jumps contains none of those, so no other thread runs in the middle of it.

The flow-control primitives (bulkhead, rate limiters) keep their uncontended paths
to such sequences, with no call between the read and the write of shared state, and
pay for a lock only on the slow paths. ``tests/policies/test_atomic.py`` shows the
rule holding under a tiny switch interval, and why a call between the read and the
write breaks it: another thread's whole update can run there. A free-threaded build
(3.13t without the GIL) has no such guarantee: :data:`GIL_ATOMIC` is then false and
the fast paths defer to the locked slow paths. (A Python-level trace function, such as
a debugger's, also runs code inside those sequences; do not rely on exact limits while
single-stepping.)

>>> isinstance(GIL_ATOMIC, bool)
True
"""

from __future__ import annotations

import sys

__all__ = ["GIL_ATOMIC"]


def _gil_enabled() -> bool:
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


GIL_ATOMIC: bool = _gil_enabled()
"""Whether call-free bytecode sequences are atomic between threads in this interpreter."""
