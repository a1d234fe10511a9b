"""Serialisers for the disk and Redis tiers: JSON by default, msgpack or pickle on request.

Values cross a process boundary in the lower tiers, so they are encoded once on
``put``. JSON is the default because it cannot run code when decoded. msgpack is
faster and smaller (imported only when chosen). ``pickle`` can encode almost any
object but **decoding a pickle runs code chosen by whoever wrote it**: enable it only
when every writer of the disk directory and the Redis namespace is trusted.

Each payload starts with one format byte, so a cache never decodes data written with
another serialiser (a JSON cache refuses a pickle left in Redis by another process).

>>> codec = make_serializer("json")
>>> codec.loads(codec.dumps({"a": [1, 2]}))
{'a': [1, 2]}
>>> try:
...     codec.dumps({1, 2})
... except SerializationError as error:
...     error.value_type
'set'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, final

from .._validate import check_choice
from ..errors import SerializationError

__all__ = ["SERIALIZERS", "SerializationError", "Serializer", "make_serializer"]

SERIALIZERS = ("json", "msgpack", "pickle")
_FORMAT = {"json": b"J", "msgpack": b"M", "pickle": b"P"}


@final
class Serializer:
    """Encode values to tagged bytes and back with one named format."""

    __slots__ = ("_dump", "_load", "_tag", "name")

    def __init__(
        self, name: str, dump: Callable[[Any], bytes], load: Callable[[bytes], Any]
    ) -> None:
        self.name = name
        self._dump = dump
        self._load = load
        self._tag = _FORMAT[name]

    def dumps(self, value: object) -> bytes:
        """Return the tagged payload of ``value``.

        Raises:
            SerializationError: the format cannot represent ``value``; the message names
                the value's type.
        """
        try:
            return self._tag + self._dump(value)
        except Exception as error:  # TypeError, ValueError, PicklingError...
            kind = type(value).__qualname__
            raise SerializationError(
                f"cannot serialise a value of type {kind} with the {self.name!r} serializer: "
                f"{error}",
                kind,
                self.name,
            ) from error

    def loads(self, payload: bytes) -> Any:
        """Decode a payload written by this serialiser.

        Raises:
            SerializationError: the payload was written by another format or is corrupt.
        """
        if payload[:1] != self._tag:
            raise SerializationError(
                f"payload tagged {payload[:1]!r} is not {self.name!r} data; refusing to decode",
                None,
                self.name,
            )
        try:
            return self._load(payload[1:])
        except Exception as error:
            raise SerializationError(
                f"corrupt {self.name!r} payload: {error}", None, self.name
            ) from error


def _json_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def make_serializer(name: object) -> Serializer:
    """Return the serialiser called ``name`` (``json``, ``msgpack`` or ``pickle``).

    Raises:
        ConfigError: ``name`` is unknown, or ``msgpack`` is chosen but not installed.
    """
    choice = check_choice("serializer", name, SERIALIZERS)
    if choice == "json":
        return Serializer("json", _json_dumps, json.loads)
    if choice == "msgpack":
        try:
            import msgpack  # type: ignore[import-untyped]
        except ImportError:  # pragma: no cover - msgpack is in the dev extra
            from ..errors import ConfigError

            raise ConfigError(
                "serializer", "an installed format (pip install msgpack)", name
            ) from None

        def dump(value: Any) -> bytes:
            out: bytes = msgpack.packb(value, use_bin_type=True)
            return out

        def load(data: bytes) -> Any:
            return msgpack.unpackb(data, raw=False, strict_map_key=False)

        return Serializer("msgpack", dump, load)
    import pickle

    return Serializer(
        "pickle", lambda v: pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL), pickle.loads
    )
