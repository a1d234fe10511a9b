"""Pure ASGI middleware: server-side load shedding, request timeouts, a resilience route.

Works with any ASGI app (Starlette, FastAPI, ...) and needs no framework import:

>>> from rebellion import Bulkhead
>>> async def app(scope, receive, send):
...     await send({"type": "http.response.start", "status": 200, "headers": []})
...     await send({"type": "http.response.body", "body": b"ok"})
>>> guarded = ResilienceMiddleware(app, bulkhead=Bulkhead("api", max_concurrent=64),
...                                timeout=5.0, snapshot_path="/_resilience")

For each HTTP request (health routes and non-HTTP scopes pass straight through):

1. admission: a permit from the :class:`~rebellion.AdaptiveLimiter` (in the partition
   the path maps to) and a slot of the :class:`~rebellion.Bulkhead`; a refusal answers
   **503** with ``Retry-After`` (the policy's own estimate, else ``retry_after``) and
   the app never runs;
2. a **timeout**: the app's task is cancelled after ``timeout`` seconds and the client
   gets **504** (if the app had already started its response, the connection is cut);
3. the permit is released with what happened: success (a latency sample), dropped
   (timed out, or the app itself answered 503), failure (an exception) or ignore
   (the client went away).

``GET snapshot_path`` answers ``registry.snapshot()`` as JSON (every breaker, retry,
limiter and bulkhead in the process). It is off by default: the listing names internals.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any, ClassVar, final

from .._clock import Clock
from .._registry import registry
from .._validate import check_clock, check_name, check_number, check_optional_number
from ..errors import ConfigError, RejectedError
from ..policies.adaptive import AdaptiveLimiter
from ..policies.adaptive._core import Token
from ..policies.bulkhead import Bulkhead
from ._asgi_admission import Exchange, jsonable

__all__ = ["ASGIApp", "ResilienceMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI 3 application."""

_HEALTH = ("/healthz", "/readyz", "/livez", "/health")


@final
class ResilienceMiddleware:
    """Shed excess load (503 + Retry-After), time requests out (504), expose a snapshot.

    Args:
        app: the ASGI application to protect.
        limiter: an :class:`AdaptiveLimiter` whose limit follows the app's latency.
        bulkhead: a :class:`Bulkhead` capping concurrent requests (and its queue).
        partitions: path glob -> limiter partition (first match wins; others use the
            limiter's default share), e.g. ``{"/api/checkout*": "critical"}``.
        timeout: seconds a request may take before it is cancelled with 504.
        exempt: paths (or globs) never shed nor timed out: health checks.
        snapshot_path: path answering ``registry.snapshot()`` as JSON (``None``: off).
        retry_after: seconds to advertise when the refusing policy gives no estimate.
        name: shown in statistics and the registry.
        clock: time source of the timeout.

    Raises:
        ConfigError: a parameter is out of range or of the wrong kind; it is named.
    """

    kind: ClassVar[str] = "asgi_middleware"

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: AdaptiveLimiter | None = None,
        bulkhead: Bulkhead | None = None,
        partitions: Mapping[str, str] | None = None,
        timeout: float | None = None,
        exempt: Iterable[str] = _HEALTH,
        snapshot_path: str | None = None,
        retry_after: float = 1.0,
        name: str = "asgi",
        clock: Clock | None = None,
    ) -> None:
        if not callable(app):
            raise ConfigError("app", "an ASGI application (a callable)", app)
        self.app = app
        if limiter is not None and not isinstance(limiter, AdaptiveLimiter):
            raise ConfigError("limiter", "an AdaptiveLimiter or None", limiter)
        if bulkhead is not None and not isinstance(bulkhead, Bulkhead):
            raise ConfigError("bulkhead", "a Bulkhead or None", bulkhead)
        self.limiter = limiter
        self.bulkhead = bulkhead
        self._partitions = _partitions(partitions, limiter)
        self.timeout = check_optional_number("timeout", timeout, minimum=0.0)
        if self.timeout == 0.0:
            raise ConfigError("timeout", "a number > 0 or None", timeout)
        self._exact, self._globs = _exempt(exempt)
        if snapshot_path is not None and not (
            isinstance(snapshot_path, str) and snapshot_path.startswith("/")
        ):
            raise ConfigError("snapshot_path", "a path starting with '/' or None", snapshot_path)
        self.snapshot_path = snapshot_path
        self.retry_after = check_number("retry_after", retry_after, minimum=0.0)
        self.name = check_name("name", name)
        self._clock = check_clock(clock)
        self._shed = 0
        self._timed_out = 0
        registry.track(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (HTTP requests are guarded, the rest pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in self._exact or (self._globs and any(g(path) for g in self._globs)):
            await self.app(scope, receive, send)
            return
        if path == self.snapshot_path and scope["method"] in ("GET", "HEAD"):
            await _answer(send, 200, jsonable(registry.snapshot()), {})
            return
        token: Token | None = None
        limiter = self.limiter
        bulkhead = self.bulkhead
        try:
            # The non-blocking try first: no coroutine on the common, uncontended path.
            if limiter is not None:
                partition = self._partition(path) if self._partitions else None
                token = limiter.try_acquire(partition)
                if token is None:
                    token = await limiter.acquire_async(partition)
            if bulkhead is not None and not bulkhead.try_acquire():
                try:
                    await bulkhead.acquire_async()
                except BaseException:
                    if token is not None:
                        token.ignore()
                    raise
        except RejectedError as rejected:
            self._shed += 1
            await self._refuse(send, rejected)
            return
        try:
            await self._run(scope, receive, send, token)
        finally:
            if bulkhead is not None:
                bulkhead.release()

    def _partition(self, path: str) -> str | None:
        for match, partition in self._partitions:
            if match(path):
                return partition
        return None

    async def _run(self, scope: Scope, receive: Receive, send: Send, token: Token | None) -> None:
        exchange = Exchange(send)
        if self.timeout is None:
            try:
                await self.app(scope, receive, exchange.send)
            except BaseException as error:
                _release_after_error(token, error)
                raise
            _release(token, exchange.status)
            return
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = self._clock.call_later(self.timeout, expire)
        try:
            await self.app(scope, receive, exchange.send)
        except asyncio.CancelledError as error:
            if not expired:
                _release_after_error(token, error)
                raise
            task.uncancel()
        except BaseException as error:
            _release_after_error(token, error)
            raise
        finally:
            handle.cancel()
        if not expired:
            _release(token, exchange.status)
            return
        self._timed_out += 1
        if token is not None:
            token.dropped()
        if exchange.started:
            return  # too late for a 504: the server closes the unfinished response
        body = {"error": "timeout", "detail": f"no response within {self.timeout:g}s"}
        await _answer(send, 504, body, {})

    async def _refuse(self, send: Send, rejected: RejectedError) -> None:
        hint = rejected.retry_after
        seconds = self.retry_after if hint is None or not math.isfinite(hint) else hint
        body = {"error": "overloaded", "policy": rejected.policy, "retry_after": seconds}
        await _answer(send, 503, body, {"retry-after": str(max(1, math.ceil(seconds)))})

    def stats(self) -> dict[str, Any]:
        """Return how many requests were shed and timed out."""
        return {
            "kind": self.kind,
            "name": self.name,
            "shed": self._shed,
            "timed_out": self._timed_out,
            "timeout": self.timeout,
        }

    def __repr__(self) -> str:
        return f"ResilienceMiddleware(name={self.name!r}, timeout={self.timeout!r})"


def _release(token: Token | None, status: int | None) -> None:
    if token is None:
        return
    if status == 503:
        token.dropped()  # the app says it is overloaded: the limit backs off
    else:
        token.success()


def _release_after_error(token: Token | None, error: BaseException) -> None:
    if token is None:
        return
    if isinstance(error, Exception):
        token.failure()
    else:
        token.ignore()  # cancelled: the client went away


async def _answer(send: Send, status: int, body: object, headers: dict[str, str]) -> None:
    payload = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def _partitions(
    partitions: object, limiter: AdaptiveLimiter | None
) -> list[tuple[Callable[[str], object], str]]:
    if partitions is None:
        return []
    if not isinstance(partitions, Mapping):
        raise ConfigError("partitions", "a mapping of path glob -> partition name", partitions)
    if limiter is None and partitions:
        raise ConfigError("partitions", "used only together with a limiter", partitions)
    compiled: list[tuple[Callable[[str], object], str]] = []
    for pattern, partition in partitions.items():
        if not isinstance(pattern, str) or not pattern.startswith("/"):
            raise ConfigError("partitions", "keys that are path globs starting with '/'", pattern)
        assert limiter is not None
        try:
            limiter.partition(partition)
        except ConfigError as error:
            raise ConfigError("partitions", error.rule, partition) from None
        compiled.append((re.compile(fnmatch.translate(pattern)).match, partition))
    return compiled


def _exempt(exempt: object) -> tuple[frozenset[str], list[Callable[[str], object]]]:
    if isinstance(exempt, str) or not isinstance(exempt, Iterable):
        raise ConfigError("exempt", "a collection of paths or path globs", exempt)
    exact: set[str] = set()
    globs: list[Callable[[str], object]] = []
    for path in exempt:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError("exempt", "paths or globs starting with '/'", path)
        if any(c in path for c in "*?["):
            globs.append(re.compile(fnmatch.translate(path)).match)
        else:
            exact.add(path)
    return frozenset(exact), globs
