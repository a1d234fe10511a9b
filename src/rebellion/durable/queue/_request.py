"""What a durable queue stores: a function reference and JSON arguments, never pickles.

A :class:`RetryableRequest` names its operation either by a module-level function
(persisted by its import path ``"package.module:function"``) or by the name of a handler
registered on the queue. Arguments must be JSON values; they are checked and encoded
once, when the request is built, so a bad argument fails before anything is enqueued.

>>> import json
>>> request = RetryableRequest(operation_func=json.dumps, args=[{"a": 1}], max_retries=2)
>>> request.operation, request.payload
('json:dumps', '{"args":[{"a":1}],"kwargs":{}}')
>>> RetryableRequest(operation_func="send_webhook", kwargs={"url": "http://x"}).operation
'send_webhook'
>>> RetryableRequest(operation_func="send_webhook", args=[object()])
Traceback (most recent call last):
...
rebellion.errors.ConfigError: args[0] must be a JSON value (...), got <object object at ...>
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, final

from ..._validate import check_int
from ...errors import ConfigError

__all__ = ["RetryableRequest", "decode_payload", "function_path", "resolve_path"]

_JSON_RULE = "a JSON value (None, bool, int, finite float, str, list, or dict with str keys)"
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _check_json(where: str, value: Any, depth: int = 0) -> None:
    # An explicit walk (not json.dumps's error) so the message names the exact argument.
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return
    if kind is float:
        if not math.isfinite(value):
            raise ConfigError(where, _JSON_RULE, value)
        return
    if depth > 64:
        raise ConfigError(where, "nested at most 64 levels deep", "...")
    if kind is list or kind is tuple:
        for index, item in enumerate(value):
            _check_json(f"{where}[{index}]", item, depth + 1)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise ConfigError(f"{where} key", "a str (JSON object keys are strings)", key)
            _check_json(f"{where}[{key!r}]", item, depth + 1)
        return
    raise ConfigError(where, _JSON_RULE, value)


def function_path(func: Callable[..., object]) -> str:
    """Return the import path ``"module:qualname"`` of a module-level function.

    Raises:
        ConfigError: ``func`` is a lambda, a closure, a bound method, or is not reachable
            again by importing its module (so a restarted process could not find it).
    """
    rule = "a module-level function (lambdas, closures and bound methods cannot be persisted)"
    if inspect.ismethod(func) or not (inspect.isfunction(func) or inspect.isbuiltin(func)):
        raise ConfigError("operation_func", rule + " or a registered handler name", func)
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", "")
    if not module or "<" in qualname or "." in qualname:
        raise ConfigError("operation_func", rule, func)
    path = f"{module}:{qualname}"
    try:
        found = resolve_path(path)
    except LookupError:
        found = None
    if found is not func:
        raise ConfigError("operation_func", rule + f" importable as {path!r}", func)
    return path


def resolve_path(path: str) -> Callable[..., object]:
    """Import the function named by ``"module:qualname"``.

    Raises:
        LookupError: the module or the attribute does not exist, or is not callable.
    """
    module_name, _, qualname = path.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as error:
        raise LookupError(f"cannot import module {module_name!r} for {path!r}") from error
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        raise LookupError(f"{path!r} does not name a callable")
    return target


@final
class RetryableRequest:
    """An operation and its JSON arguments, ready to be enqueued durably.

    Args:
        operation_func: a module-level function (sync or async; stored by import path),
            or the name of a handler registered with ``queue.register_handler(name, fn)``.
        args: positional arguments; each must be a JSON value.
        kwargs: keyword arguments; each value must be a JSON value.
        max_retries: retries after the first attempt before the request is dead-lettered
            (``0`` means one attempt only).
        idempotency_key: enqueueing a second request with the same key returns the
            first request's id and enqueues nothing.

    Raises:
        ConfigError: a parameter is invalid; the message names it (``args[1]``,
            ``kwargs['url']``, ``operation_func``, ...).
    """

    # __weakref__: a queue remembers, weakly, the id of an enqueue whose outcome it could
    # not learn, so that retrying the same request object reuses that id.
    __slots__ = (
        "__weakref__",
        "args",
        "idempotency_key",
        "kwargs",
        "max_retries",
        "operation",
        "payload",
    )

    def __init__(
        self,
        operation_func: Callable[..., object] | str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        max_retries: int = 3,
        idempotency_key: str | None = None,
    ) -> None:
        if isinstance(operation_func, str):
            if not operation_func or operation_func.strip() != operation_func:
                raise ConfigError(
                    "operation_func", "a handler name without surrounding spaces", operation_func
                )
            self.operation = operation_func
        else:
            self.operation = function_path(operation_func)
        if isinstance(args, str | bytes) or not isinstance(args, Sequence):
            raise ConfigError("args", "a list or tuple of JSON values", args)
        if kwargs is None:
            kwargs = {}
        elif not isinstance(kwargs, Mapping):
            raise ConfigError("kwargs", "a mapping of str to JSON values", kwargs)
        for index, item in enumerate(args):
            _check_json(f"args[{index}]", item)
        for key, item in kwargs.items():
            if type(key) is not str:
                raise ConfigError("kwargs", "a mapping with str keys", key)
            _check_json(f"kwargs[{key!r}]", item)
        self.args: tuple[Any, ...] = tuple(args)
        self.kwargs: dict[str, Any] = dict(kwargs)
        self.max_retries = check_int("max_retries", max_retries, minimum=0, maximum=1_000_000)
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str)
            or not idempotency_key
            or len(idempotency_key) > 512
        ):
            raise ConfigError(
                "idempotency_key", "None or a non-empty str of at most 512 chars", idempotency_key
            )
        self.idempotency_key = idempotency_key
        self.payload = _ENCODER.encode({"args": self.args, "kwargs": self.kwargs})

    def __repr__(self) -> str:
        return (
            f"RetryableRequest(operation_func={self.operation!r}, args={self.args!r}, "
            f"kwargs={self.kwargs!r}, max_retries={self.max_retries!r}, "
            f"idempotency_key={self.idempotency_key!r})"
        )


def decode_payload(payload: str | bytes) -> tuple[list[Any], dict[str, Any]]:
    """Return ``(args, kwargs)`` from a stored payload.

    Raises:
        ValueError: the payload is not UTF-8 JSON of the shape ``encode`` writes
            (``{"args": [...], "kwargs": {...}}``); the message says what is wrong.
    """
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"payload is not JSON ({error})") from error
    except RecursionError as error:  # nested deeper than the parser's stack allows
        raise ValueError("payload is nested too deeply to decode") from error
    if not isinstance(data, dict):
        raise ValueError("payload is not a JSON object")
    args, kwargs = data.get("args"), data.get("kwargs")
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ValueError("payload lacks an 'args' list and a 'kwargs' object")
    return args, kwargs
