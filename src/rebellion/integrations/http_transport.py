"""httpx transports that run every request through a resilience pipeline per host.

>>> import httpx
>>> statuses = iter([503, 200])
>>> def upstream(request):
...     return httpx.Response(next(statuses), text="hello")
>>> transport = ResilientTransport(httpx.MockTransport(upstream), initial_delay=0)
>>> with httpx.Client(transport=transport) as client:
...     client.get("http://api.example/greeting").text
'hello'

What the caller sees:

* **success** (or a status the classifier does not call a failure, e.g. 404): the
  response, untouched and still streaming.
* **a failure status** (429, 408, 5xx by default) on an idempotent request: it is retried
  (the failed response's body is read and the response closed before the backoff, so no
  connection leaks; ``Retry-After`` in seconds or as an HTTP date is honoured). If the
  status persists, the **last response is returned** with its status, headers and body,
  as plain httpx would -- or, with ``raise_on_exhausted=True``, ``httpx.HTTPStatusError``
  carrying it is raised. Either way its body was read once already.
* **a transport error** (connect error, timeout, reset) that persists: the **last httpx
  exception** is raised, with a note saying how many attempts ran.
* **a refusal** (breaker open, bulkhead full, rate limited, limit exceeded):
  :class:`RequestRejectedError`, both an ``httpx.TransportError`` and a
  :class:`~rebellion.errors.RejectedError` with ``retry_after``.

Only idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or ``retry_methods``)
with a replayable body are retried or hedged; other requests go through the same
route's policies minus retry and hedge (so they share its breaker).
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, final

import httpx

from .._clock import Clock
from .._policy import Policy
from .._registry import registry
from .._validate import check_clock, check_name
from ..errors import ConfigError
from ..policies.classify import FailureClassifier
from ._http_common import (
    IDEMPOTENT_METHODS,
    Attempts,
    PolicyFactory,
    RequestRejectedError,
    RouteTable,
    StatusFailure,
    breakers,
    buffered_body,
    check_methods,
    http_classifier,
    http_pipeline,
    judge_status,
    settle,
    uses_hedge,
    without_retries,
)

__all__ = ["AsyncResilientTransport", "RequestRejectedError", "ResilientTransport"]

_DEFAULTS = ("max_attempts", "initial_delay", "max_delay", "failure_threshold", "reset_timeout")


@final
class _Route:
    __slots__ = ("hedged", "key", "policy", "send", "send_once")

    def __init__(self, key: str, policy: Policy, send: Any, send_once: Any) -> None:
        self.key = key
        self.policy = policy
        self.send = send
        self.send_once = send_once
        self.hedged = uses_hedge(policy)


class _Resilient(ABC):
    """Settings, routes and counters shared by the sync and async transports."""

    kind: ClassVar[str] = "http_transport"

    def __init__(
        self,
        *,
        name: str,
        policy_factory: PolicyFactory | None,
        routes: Mapping[str | re.Pattern[str], PolicyFactory] | None,
        classifier: FailureClassifier | None,
        retry_methods: Iterable[str],
        raise_on_exhausted: bool,
        max_hosts: int,
        defaults: dict[str, Any],
        clock: Clock | None,
    ) -> None:
        self.name = check_name("name", name)
        if classifier is not None and not isinstance(classifier, FailureClassifier):
            raise ConfigError("classifier", "a FailureClassifier or None", classifier)
        self.classifier = http_classifier() if classifier is None else classifier
        self.retry_methods = check_methods(retry_methods)
        if not isinstance(raise_on_exhausted, bool):
            raise ConfigError("raise_on_exhausted", "True or False", raise_on_exhausted)
        self.raise_on_exhausted = raise_on_exhausted
        clock = check_clock(clock)
        given = {k: v for k, v in defaults.items() if v is not None}
        if policy_factory is not None:
            if given:
                parameter = sorted(given)[0]
                raise ConfigError(
                    parameter, "left out when policy_factory is given", given[parameter]
                )
            factory = policy_factory
        else:
            settings = {k: v for k, v in given.items() if k != "hedge_delay"}
            hedge_delay = given.get("hedge_delay")
            # Validate now, not on the first request: build (and drop) one pipeline.
            http_pipeline("probe", name=self.name, hedge_delay=hedge_delay, **settings)

            def factory(key: str) -> Policy:
                return http_pipeline(
                    key,
                    name=self.name,
                    hedge_delay=hedge_delay,
                    classifier=self.classifier,
                    clock=clock,
                    **settings,
                )

        self._table: RouteTable[_Route] = RouteTable(routes, factory, self._route, max_hosts)
        self._lock = threading.Lock()
        self._returned = 0
        self._rejected = 0
        self._errors = 0
        registry.track(self)

    @abstractmethod
    def _route(self, key: str, policy: Policy) -> _Route:
        """Build the route object (sync or async face) for ``key``'s policy."""

    def _wants_retries(self, request: httpx.Request) -> bool:
        return request.method in self.retry_methods and isinstance(request.stream, httpx.ByteStream)

    def _settle(self, error: Exception, request: httpx.Request) -> httpx.Response:
        try:
            response = settle(error, request, self.raise_on_exhausted)
        except RequestRejectedError:
            with self._lock:
                self._rejected += 1
            raise
        except Exception:
            with self._lock:
                self._errors += 1
            raise
        with self._lock:
            self._returned += 1
        return response

    def stats(self) -> dict[str, Any]:
        """Return the route keys and how requests that did not simply succeed ended.

        ``failed_responses`` counts failure statuses handed back after giving up (or at
        once for requests that are not retried); ``rejected`` refusals; ``errors``
        transport errors raised; ``circuits`` maps each route key to the state of its
        breaker(s) (``"CLOSED"``, ``"OPEN"``...). Each route's policies report in the
        registry too.
        """
        routes = list(self._table.items())
        with self._lock:
            counters = {
                "failed_responses": self._returned,
                "rejected": self._rejected,
                "errors": self._errors,
            }
        return {
            "kind": self.kind,
            "name": self.name,
            "routes": {key: route.policy.name for key, route in routes},
            "circuits": {
                key: found[0].state.value
                for key, route in routes
                if (found := breakers(route.policy))
            },
            **counters,
        }


def _defaults(**values: Any) -> dict[str, Any]:
    return values


@final
class ResilientTransport(_Resilient, httpx.BaseTransport):
    """Wrap a sync httpx transport so each request runs through its route's pipeline.

    Args:
        transport: the transport that really sends (default ``httpx.HTTPTransport()``).
        name: prefix of the route policies' names and the transport's registry name.
        policy_factory: ``key -> Policy`` for hosts (``key`` is ``host[:port]``); default
            :func:`~rebellion.integrations.http_pipeline` with the settings below.
        routes: glob or compiled regex -> policy factory, matched in order against
            ``host[:port]/path``; a matching pattern's one policy serves all its URLs.
        classifier: decides which statuses and errors are failures (default
            :func:`~rebellion.integrations.http_classifier`).
        retry_methods: methods that may be retried or hedged.
        raise_on_exhausted: raise ``httpx.HTTPStatusError`` instead of returning a
            failure response once retries are exhausted.
        max_hosts: host routes kept (the oldest is dropped beyond it).
        max_attempts, initial_delay, max_delay, failure_threshold, reset_timeout,
            hedge_delay: settings of the default pipeline (see ``http_pipeline``);
            not allowed together with ``policy_factory``.
        clock: time source of the default pipeline.

    Raises:
        ConfigError: a parameter is out of range or of the wrong kind; it is named.
    """

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        name: str = "http",
        policy_factory: PolicyFactory | None = None,
        routes: Mapping[str | re.Pattern[str], PolicyFactory] | None = None,
        classifier: FailureClassifier | None = None,
        retry_methods: Iterable[str] = IDEMPOTENT_METHODS,
        raise_on_exhausted: bool = False,
        max_hosts: int = 1024,
        max_attempts: int | None = None,
        initial_delay: float | None = None,
        max_delay: float | None = None,
        failure_threshold: int | None = None,
        reset_timeout: float | None = None,
        hedge_delay: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if transport is not None and not isinstance(transport, httpx.BaseTransport):
            raise ConfigError("transport", "an httpx.BaseTransport or None", transport)
        self._inner = httpx.HTTPTransport() if transport is None else transport
        super().__init__(
            name=name,
            policy_factory=policy_factory,
            routes=routes,
            classifier=classifier,
            retry_methods=retry_methods,
            raise_on_exhausted=raise_on_exhausted,
            max_hosts=max_hosts,
            defaults=_defaults(
                max_attempts=max_attempts,
                initial_delay=initial_delay,
                max_delay=max_delay,
                failure_threshold=failure_threshold,
                reset_timeout=reset_timeout,
                hedge_delay=hedge_delay,
            ),
            clock=clock,
        )

    def _route(self, key: str, policy: Policy) -> _Route:
        once = without_retries(policy)
        attempt = self._attempt
        return _Route(
            key,
            policy,
            policy.guard_sync(attempt),
            attempt if once is None else once.guard_sync(attempt),
        )

    def _attempt(self, request: httpx.Request, attempts: Attempts | None) -> httpx.Response:
        response = self._inner.handle_request(request)
        if attempts is not None and not attempts.add(response):
            response.close()  # a hedge that lost after the request was answered
            return response
        if response.status_code >= 400:
            classification = judge_status(self.classifier, response)
            if classification is not None:
                body = buffered_body(response)
                try:
                    if body is None:
                        body = b"".join(response.iter_raw())
                finally:
                    response.close()
                raise StatusFailure(response, body, classification)
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its route's policies; see the module docs for outcomes."""
        route = self._table.lookup(request.url)
        send = route.send if self._wants_retries(request) else route.send_once
        attempts = Attempts() if route.hedged else None
        try:
            response: httpx.Response = send(request, attempts)
        except Exception as error:
            if attempts is not None:
                _close_all(attempts.finish(None))
            return self._settle(error, request)
        except BaseException:
            if attempts is not None:
                _close_all(attempts.finish(None))
            raise
        if attempts is not None:
            _close_all(attempts.finish(response))
        return response

    def close(self) -> None:
        """Close the wrapped transport."""
        self._inner.close()

    def __repr__(self) -> str:
        return f"ResilientTransport(name={self.name!r}, inner={self._inner!r})"


def _close_all(responses: list[httpx.Response]) -> None:
    for response in responses:
        response.close()


@final
class AsyncResilientTransport(_Resilient, httpx.AsyncBaseTransport):
    """Wrap an async httpx transport so each request runs through its route's pipeline.

    Takes the same arguments as :class:`ResilientTransport`; ``transport`` defaults
    to ``httpx.AsyncHTTPTransport()``. Hedged attempts are tasks: losers are cancelled
    and any response they produced is closed.

    Raises:
        ConfigError: a parameter is out of range or of the wrong kind; it is named.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        name: str = "http",
        policy_factory: PolicyFactory | None = None,
        routes: Mapping[str | re.Pattern[str], PolicyFactory] | None = None,
        classifier: FailureClassifier | None = None,
        retry_methods: Iterable[str] = IDEMPOTENT_METHODS,
        raise_on_exhausted: bool = False,
        max_hosts: int = 1024,
        max_attempts: int | None = None,
        initial_delay: float | None = None,
        max_delay: float | None = None,
        failure_threshold: int | None = None,
        reset_timeout: float | None = None,
        hedge_delay: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise ConfigError("transport", "an httpx.AsyncBaseTransport or None", transport)
        self._inner = httpx.AsyncHTTPTransport() if transport is None else transport
        super().__init__(
            name=name,
            policy_factory=policy_factory,
            routes=routes,
            classifier=classifier,
            retry_methods=retry_methods,
            raise_on_exhausted=raise_on_exhausted,
            max_hosts=max_hosts,
            defaults=_defaults(
                max_attempts=max_attempts,
                initial_delay=initial_delay,
                max_delay=max_delay,
                failure_threshold=failure_threshold,
                reset_timeout=reset_timeout,
                hedge_delay=hedge_delay,
            ),
            clock=clock,
        )

    def _route(self, key: str, policy: Policy) -> _Route:
        once = without_retries(policy)
        attempt = self._attempt
        return _Route(
            key,
            policy,
            policy.guard_async(attempt),
            attempt if once is None else once.guard_async(attempt),
        )

    async def _attempt(self, request: httpx.Request, attempts: Attempts | None) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if attempts is not None and not attempts.add(response):
            await response.aclose()
            return response
        if response.status_code >= 400:
            classification = judge_status(self.classifier, response)
            if classification is not None:
                body = buffered_body(response)
                try:
                    if body is None:
                        body = b"".join([chunk async for chunk in response.aiter_raw()])
                finally:
                    await response.aclose()
                raise StatusFailure(response, body, classification)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its route's policies; see the module docs for outcomes."""
        route = self._table.lookup(request.url)
        send = route.send if self._wants_retries(request) else route.send_once
        attempts = Attempts() if route.hedged else None
        try:
            response: httpx.Response = await send(request, attempts)
        except Exception as error:
            if attempts is not None:
                await _aclose_all(attempts.finish(None))
            return self._settle(error, request)
        except BaseException:
            if attempts is not None:
                await _aclose_all(attempts.finish(None))
            raise
        if attempts is not None:
            await _aclose_all(attempts.finish(response))
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()

    def __repr__(self) -> str:
        return f"AsyncResilientTransport(name={self.name!r}, inner={self._inner!r})"


async def _aclose_all(responses: list[httpx.Response]) -> None:
    for response in responses:
        await response.aclose()
