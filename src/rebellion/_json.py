"""Make statistics and events JSON-safe: one converter for the monitor and the middleware.

``stats()`` snapshots carry infinities (a forced-open breaker's remaining time), enums,
tuples and the odd NumPy scalar; JSON carries none of them faithfully.

>>> jsonable({"rate": float("inf"), "states": ("OPEN",)})
{'rate': None, 'states': ['OPEN']}
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

__all__ = ["jsonable"]


def jsonable(value: Any) -> Any:
    """Return ``value`` with every part JSON can't carry made plain (inf/NaN → None).

    Enums become their value (or name when the value is not a string or integer),
    sequences and sets become lists, objects with ``to_dict()`` are converted, NumPy
    scalars become Python numbers, anything else becomes its ``str``.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, str | int) else value.name
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | deque):
        return [jsonable(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    item = getattr(value, "item", None)  # NumPy scalars
    if callable(item):
        return jsonable(item())
    return str(value)
