"""What the sync and async resilient transports share: no I/O lives here.

* :func:`http_classifier` -- the failure classifier that knows httpx's exceptions;
* :func:`http_pipeline` -- the default per-host pipeline (retry outside a breaker,
  optional hedge innermost);
* :class:`StatusFailure` -- a response whose status means failure, raised *inside*
  the pipeline so every policy (retry, breaker, hedge) sees it like an error, with the
  status and ``Retry-After`` header where the classifier looks for them;
* :class:`RouteTable` -- lazily created policies per host or per route pattern;
* :func:`settle` -- turns what escaped the pipeline into what an httpx caller expects.

>>> classifier = http_classifier()
>>> classifier.classify(httpx.ConnectTimeout("slow")).kind.value
'timeout'
>>> classifier.classify(httpx.UnsupportedProtocol("ftp")).retryable
False
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar, final

import httpx

from .._clock import Clock
from .._policy import Policy
from .._validate import check_int, check_name, check_optional_number
from ..errors import ConfigError, RejectedError, RetryExhaustedError
from ..policies.circuit_breaker import CircuitBreaker
from ..policies.classify import Classification, FailureClassifier, FailureKind
from ..policies.hedge import Hedge
from ..policies.pipeline import Pipeline
from ..policies.retry import Retry

__all__ = [
    "IDEMPOTENT_METHODS",
    "Attempts",
    "PolicyFactory",
    "RequestRejectedError",
    "RouteTable",
    "buffered_body",
    "StatusFailure",
    "check_methods",
    "judge_status",
    "http_classifier",
    "http_pipeline",
    "settle",
    "uses_hedge",
    "without_retries",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""Methods RFC 9110 calls idempotent: the only ones retried or hedged by default."""

PolicyFactory = Callable[[str], Policy]
"""Builds the policy (usually a :class:`Pipeline`) of one route key (a host or pattern)."""

R = TypeVar("R")


def http_classifier() -> FailureClassifier:
    """Return a classifier that knows httpx's exceptions (and HTTP statuses, built in).

    Timeouts (connect, read, write, pool) are TIMEOUT; network errors, a server that
    broke the protocol and proxy errors are TRANSIENT; any other transport error (an
    unsupported scheme, a malformed request) is PERMANENT -- retrying cannot help.
    """
    return FailureClassifier(
        [
            (httpx.TimeoutException, FailureKind.TIMEOUT),
            (httpx.NetworkError, FailureKind.TRANSIENT),
            (httpx.RemoteProtocolError, FailureKind.TRANSIENT),
            (httpx.ProxyError, FailureKind.TRANSIENT),
            (httpx.TransportError, FailureKind.PERMANENT),
            (httpx.StreamError, FailureKind.PERMANENT),
        ]
    )


def http_pipeline(
    key: str,
    *,
    name: str = "http",
    max_attempts: int = 3,
    initial_delay: float = 0.1,
    max_delay: float = 10.0,
    failure_threshold: int = 5,
    reset_timeout: float = 30.0,
    hedge_delay: float | None = None,
    classifier: FailureClassifier | None = None,
    clock: Clock | None = None,
) -> Pipeline:
    """Build the default pipeline of one host: a breaker, then retry, then an optional hedge.

    The breaker is named ``"{name}:{key}"`` (the dashboard lists it) and sits *outside*
    the retry, so it judges requests, not attempts: ``failure_threshold`` requests that
    failed after all their attempts open it, and while it is open a request is refused
    at once, before any attempt or backoff. The retry backs off with full jitter but
    never sooner than a ``Retry-After`` asks, and gives up when one asks for more than
    ``max_delay``.

    Args:
        key: the route key (a host such as ``"api.example.com"``, or a pattern).
        name: prefix of the policies' names.
        max_attempts: attempts per request, the first included (>= 1).
        initial_delay: seconds before the first retry.
        max_delay: cap on a backoff delay and on an honoured ``Retry-After``.
        failure_threshold: consecutive failed requests that open the breaker.
        reset_timeout: seconds the breaker stays open before a probe.
        hedge_delay: start a hedged attempt after this many seconds (``None``: no hedge).
        classifier: failure classifier (default :func:`http_classifier`).
        clock: time source.

    Returns:
        A new :class:`Pipeline`.

    Raises:
        ConfigError: a parameter is out of range; the message names it.
    """
    check_name("name", name)
    classifier = http_classifier() if classifier is None else classifier
    label = f"{name}:{key}"
    policies: list[Policy] = [
        CircuitBreaker(
            label,
            failure_threshold=failure_threshold,
            reset_timeout=reset_timeout,
            classifier=classifier,
            clock=clock,
        ),
        Retry(
            max_attempts,
            initial_delay=initial_delay,
            max_delay=max_delay,
            backoff_factor=2.0,
            jitter="full",
            classifier=classifier,
            name=f"{label}:retry",
            clock=clock,
        ),
    ]
    delay = check_optional_number("hedge_delay", hedge_delay, minimum=0.0)
    if delay is not None:
        policies.append(Hedge(f"{label}:hedge", delay=delay, clock=clock))
    # The breaker outside the retry is deliberate here: one outcome per request.
    return Pipeline(*policies, name=label, warn=False)


_REPEATING: tuple[type[Policy], ...] = (Retry, Hedge)


def without_retries(policy: Policy) -> Policy | None:
    """Return ``policy`` without its retry and hedge parts (for non-idempotent requests).

    The remaining policies are the same objects, so a breaker or bulkhead keeps one
    state for all methods. ``None`` means nothing is left: call the transport directly.
    """
    if not _contains(policy, _REPEATING):
        return policy
    flat: list[Policy] = []

    def flatten(p: Policy) -> None:
        if isinstance(p, Pipeline):
            for inner in p.policies:
                flatten(inner)
        elif not isinstance(p, _REPEATING):
            flat.append(p)

    flatten(policy)
    if not flat:
        return None
    if len(flat) == 1:
        return flat[0]
    return Pipeline(*flat, name=policy.name, warn=False)


def _contains(policy: Policy, kinds: tuple[type[Policy], ...]) -> bool:
    if isinstance(policy, Pipeline):
        return any(_contains(p, kinds) for p in policy.policies)
    return isinstance(policy, kinds)


def breakers(policy: Policy) -> list[CircuitBreaker]:
    """Return the circuit breakers in ``policy`` (itself, or inside its pipelines)."""
    if isinstance(policy, Pipeline):
        return [b for inner in policy.policies for b in breakers(inner)]
    return [policy] if isinstance(policy, CircuitBreaker) else []


def uses_hedge(policy: Policy) -> bool:
    """Return whether ``policy`` may run attempts concurrently (a hedge anywhere in it)."""
    return _contains(policy, (Hedge,))


class StatusFailure(Exception):
    """A response whose status the classifier calls a failure; never leaves the transport.

    It carries ``status_code`` and ``headers`` where the classifier (and ``Retry``'s
    ``Retry-After`` handling) look for them, and the raw body already read, so the
    connection went back to the pool before any backoff sleep.
    """

    def __init__(self, response: httpx.Response, body: bytes, classification: Classification):
        super().__init__(f"HTTP {response.status_code}")
        self.status_code = response.status_code
        self.headers = response.headers
        self.response = response
        self.body = body
        self.classification = classification

    def rebuild(self, request: httpx.Request) -> httpx.Response:
        """Return a fresh, unread response with the same status, headers and raw body."""
        old = self.response
        extensions = {k: v for k, v in old.extensions.items() if k != "network_stream"}
        return httpx.Response(
            old.status_code,
            headers=old.headers,
            stream=httpx.ByteStream(self.body),
            request=request,
            extensions=extensions,
        )


def judge_status(classifier: FailureClassifier, response: httpx.Response) -> Classification | None:
    """Return the classification of a response that counts as a failure, else ``None``."""
    probe = _StatusProbe(response.status_code, response.headers)
    classification = classifier.classify(probe)
    if classification.retryable or classification.is_breaker_failure:
        return classification
    return None


def buffered_body(response: httpx.Response) -> bytes | None:
    """Return the raw body of a response built in memory (a mock's), else ``None``."""
    stream = response.stream
    if isinstance(stream, httpx.ByteStream):
        return b"".join(stream)  # re-iterable, even after the response read it
    return None


class _StatusProbe(Exception):
    """What the classifier sees of a response: its status and headers."""

    def __init__(self, status_code: int, headers: httpx.Headers) -> None:
        super().__init__(status_code)
        self.status_code = status_code
        self.headers = headers


class RequestRejectedError(httpx.TransportError, RejectedError):
    """A policy refused the request before it was sent (breaker open, bulkhead full, ...).

    Both an ``httpx.TransportError`` (so ``except httpx.HTTPError`` keeps working) and a
    :class:`~rebellion.errors.RejectedError` (``policy``, ``retry_after``); the policy's
    own error is ``rejection`` and ``__cause__``.
    """

    def __init__(self, rejection: RejectedError, request: httpx.Request | None = None) -> None:
        message = f"request refused by {rejection.policy!r}: {rejection}"
        Exception.__init__(self, message)
        self._request = request
        self.rejection = rejection
        self.message = message

    @property
    def policy(self) -> str:  # type: ignore[override]
        """Name of the refusing policy."""
        return self.rejection.policy

    @property
    def retry_after(self) -> float | None:  # type: ignore[override]
        """Seconds after which the policy may admit a request again, if known."""
        return self.rejection.retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.rejection,))


def settle(
    error: BaseException, request: httpx.Request, raise_on_exhausted: bool
) -> httpx.Response:
    """Turn what escaped a route's pipeline into the response or error the caller gets.

    Raises:
        httpx.HTTPStatusError: a failure status persisted and ``raise_on_exhausted``.
        RequestRejectedError: a policy refused the request.
        BaseException: the last transport error (an httpx exception), with a note.
    """
    attempts = 1
    cause: BaseException | None = error
    if isinstance(error, RetryExhaustedError):
        attempts = error.attempts
        cause = error.__cause__
        if cause is None:
            raise error
    if isinstance(cause, StatusFailure):
        response = cause.rebuild(request)
        if raise_on_exhausted:
            raise httpx.HTTPStatusError(
                f"HTTP {cause.status_code} for {request.method} {request.url} "
                f"after {attempts} attempt(s)",
                request=request,
                response=response,
            ) from error
        return response
    if isinstance(cause, RejectedError) and not isinstance(cause, RequestRejectedError):
        raise RequestRejectedError(cause, request) from cause
    assert cause is not None
    if cause is not error:
        cause.add_note(f"rebellion: gave up after {attempts} attempt(s): {error}")
        raise cause from None
    raise error


@final
class Attempts:
    """The responses of one request's concurrent attempts (only when hedging).

    A losing attempt's response is closed when the request finishes; one that finishes
    later (a sync hedge cannot be interrupted) is refused by :meth:`add` and closed by
    its attempt at once.
    """

    __slots__ = ("finished", "lock", "responses")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.responses: list[httpx.Response] = []
        self.finished = False

    def add(self, response: httpx.Response) -> bool:
        """Remember ``response``; ``False`` means the request is over: close it yourself."""
        with self.lock:
            if self.finished:
                return False
            self.responses.append(response)
            return True

    def finish(self, keep: httpx.Response | None) -> list[httpx.Response]:
        """Mark the request over; return the responses to close (all but ``keep``)."""
        with self.lock:
            self.finished = True
            others = [r for r in self.responses if r is not keep]
            self.responses = []
        return others


@final
class RouteTable(Generic[R]):
    """Per-key routes created on first use: route patterns first, then one per host.

    Args:
        routes: pattern -> policy factory; a ``str`` is a glob and a compiled
            ``re.Pattern`` a regex (``search``), both matched against ``host[:port]/path``.
        factory: policy factory for a host no pattern matches.
        build: turns ``(key, policy)`` into the route object the transport uses.
        max_hosts: host routes kept; beyond it the oldest one is dropped.
    """

    __slots__ = ("_build", "_factory", "_hosts", "_lock", "_max_hosts", "_patterns", "_routes")

    def __init__(
        self,
        routes: Mapping[str | re.Pattern[str], PolicyFactory] | None,
        factory: PolicyFactory,
        build: Callable[[str, Policy], R],
        max_hosts: int,
    ) -> None:
        self._patterns: list[tuple[str, Callable[[str], object], PolicyFactory]] = []
        if routes is not None:
            if not isinstance(routes, Mapping):
                raise ConfigError("routes", "a mapping of glob or regex -> policy factory", routes)
            for pattern, make in routes.items():
                self._patterns.append((*_matcher(pattern), _check_factory("routes[]", make)))
        self._factory = _check_factory("policy_factory", factory)
        self._build = build
        self._max_hosts = check_int("max_hosts", max_hosts, minimum=1)
        self._lock = threading.Lock()
        self._hosts: dict[str, R] = {}
        self._routes: dict[str, R] = {}

    def lookup(self, url: httpx.URL) -> R:
        """Return the route of ``url``, creating it on first use."""
        host = url.netloc.decode("ascii")
        if self._patterns:
            target = host + url.path
            for key, match, make in self._patterns:
                if match(target):
                    route = self._routes.get(key)
                    return route if route is not None else self._create(self._routes, key, make)
        route = self._hosts.get(host)
        return route if route is not None else self._create(self._hosts, host, self._factory)

    def _create(self, table: dict[str, R], key: str, make: PolicyFactory) -> R:
        with self._lock:
            route = table.get(key)
            if route is not None:
                return route
            policy = make(key)
            if not isinstance(policy, Policy):
                raise ConfigError("policy_factory", "a factory returning a Policy", policy)
            route = self._build(key, policy)
            if table is self._hosts and len(table) >= self._max_hosts:
                del table[next(iter(table))]
            table[key] = route
            return route

    def items(self) -> list[tuple[str, R]]:
        """Return ``(key, route)`` pairs: pattern routes, then host routes."""
        with self._lock:
            return [*self._routes.items(), *self._hosts.items()]


def _matcher(pattern: object) -> tuple[str, Callable[[str], object]]:
    if isinstance(pattern, re.Pattern):
        return pattern.pattern, pattern.search
    if isinstance(pattern, str) and pattern:
        glob = re.compile(fnmatch.translate(pattern))
        return pattern, glob.match
    raise ConfigError("routes", "keys that are glob strings or compiled regexes", pattern)


def _check_factory(parameter: str, value: object) -> PolicyFactory:
    if not callable(value):
        raise ConfigError(parameter, "a callable taking a route key and returning a Policy", value)
    return value


def check_methods(value: object) -> frozenset[str]:
    """Return the upper-cased set of retryable methods named by ``value``."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError("retry_methods", "a collection of HTTP method names", value)
    methods = []
    for method in value:
        if not isinstance(method, str) or not method.isalpha():
            raise ConfigError("retry_methods", "a collection of HTTP method names", value)
        methods.append(method.upper())
    return frozenset(methods)
