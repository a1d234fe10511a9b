"""Webhook delivery of alert notifications through a durable queue, behind a breaker.

:class:`WebhookNotifier` is an :class:`~.AlertManager` callback. Each notification
becomes a durable request on a :class:`~rebellion.durable.queue.PersistentRequestQueue`
(handler registered by name, JSON arguments, the notification's idempotency key as the
request's key), so an alert survives a receiver that is down and a process that
restarts. The queue's worker runs the delivery handler, which POSTs an
Alertmanager-style body with httpx through a :class:`~rebellion.CircuitBreaker`; a
failed POST (connection error, timeout, non-2xx, open breaker) raises, and the queue
retries it with backoff. Each POST carries an ``Idempotency-Key`` header; a receiver
that remembers the keys it has seen gets every notification once.

**Order.** A queue with retries does not keep order by itself: when notification 1
of a group fails and waits out its backoff, notification 2 may be claimed and succeed
first, and with ``concurrency > 1`` two workers may deliver one group at once. So
delivery is made sequential per group, in enqueue order:

* every notification of a group gets the group's next sequence number (the manager's);
* its durable request carries not only itself but every earlier notification of the
  group not yet delivered (its *backlog*, at most ``max_backlog``), fixed at
  enqueue time;
* the handler takes the group's lock, then POSTs the backlog in sequence order,
  skipping what is already delivered and stopping at the first failure.

Whichever request of a group runs first thus delivers everything before it, in order;
a later retry of an earlier request finds its notifications delivered and succeeds at
once. Requests are self-contained, so after a restart the surviving requests still
deliver their predecessors first (the receiver drops the repeats by key). Order across
groups is not promised, and a backlog longer than ``max_backlog`` loses order (never
delivery) for the oldest notifications.

``httpx`` is imported only when the first notification is delivered.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, final
from urllib.parse import urlsplit

from ..._registry import registry
from ..._validate import MAX_INT, check_int, check_name, check_number
from ...errors import ConfigError, WebhookDeliveryError
from ...policies.circuit_breaker import CircuitBreaker
from ._model import Notification

if TYPE_CHECKING:
    import httpx

__all__ = ["RequestQueue", "WebhookDeliveryError", "WebhookNotifier"]


class RequestQueue(Protocol):
    """What the notifier needs from a durable queue (``PersistentRequestQueue`` fits)."""

    def register_handler(self, name: str, fn: Callable[..., Any]) -> None: ...

    async def enqueue(self, request: Any, priority: int = 0) -> str: ...


class _Stream:
    """Delivery bookkeeping of one group (its notifications share a sequence)."""

    __slots__ = ("above", "backlog", "lock", "mark")

    def __init__(self) -> None:
        self.backlog: dict[int, dict[str, Any]] = {}
        self.mark = 0  # every sequence <= mark is delivered
        self.above: set[int] = set()  # delivered sequences beyond a gap
        self.lock: asyncio.Lock | None = None

    def delivered(self, seq: int) -> bool:
        return seq <= self.mark or seq in self.above

    def record(self, seq: int) -> None:
        self.above.add(seq)
        while self.mark + 1 in self.above:
            self.mark += 1
            self.above.discard(self.mark)
        for done in [s for s in self.backlog if self.delivered(s)]:
            del self.backlog[done]


@final
class WebhookNotifier:
    """Deliver notifications to ``url`` durably, in order per group, at least once.

    Args:
        url: the receiver (``http://`` or ``https://``).
        queue: the durable queue that stores and retries deliveries; the notifier
            registers its handler on it (run ``queue.process_queue()`` somewhere).
        breaker: guards the POSTs (default: a breaker opening after 5 consecutive
            failures for 30 s).
        name: names the handler (``rebellion.alert_webhook.<name>``) and statistics;
            use the same name after a restart so stored deliveries resume.
        timeout: seconds for one POST (connect, write, read).
        headers: extra HTTP headers (e.g. authorisation).
        max_retries: retries of a delivery before the queue dead-letters it.
        max_backlog: earlier undelivered notifications a request carries (>= 1).
        priority: queue priority of the deliveries.
        transport: an ``httpx`` transport (tests use ``httpx.MockTransport``).

    Raises:
        ConfigError: a parameter is invalid; the message names it.
    """

    kind: ClassVar[str] = "alert_webhook"

    def __init__(
        self,
        url: str,
        *,
        queue: RequestQueue,
        breaker: CircuitBreaker | None = None,
        name: str = "webhook",
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        max_retries: int = 1000,
        max_backlog: int = 100,
        priority: int = 0,
        transport: object = None,
    ) -> None:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("url", "an http:// or https:// URL", url)
        self.url = url
        if not (callable(getattr(queue, "enqueue", None)) and callable(
            getattr(queue, "register_handler", None)
        )):  # fmt: skip
            raise ConfigError("queue", "a durable queue (enqueue, register_handler)", queue)
        self.name = check_name("name", name)
        if breaker is None:
            breaker = CircuitBreaker(
                name=f"alert-webhook-{name}", failure_threshold=5, reset_timeout=30.0
            )
        elif not isinstance(breaker, CircuitBreaker):
            raise ConfigError("breaker", "a CircuitBreaker or None", breaker)
        self.breaker = breaker
        self.timeout = check_number("timeout", timeout, minimum=0.0, exclusive_minimum=True)
        self.headers = _headers(headers)
        self.max_retries = check_int("max_retries", max_retries, minimum=0, maximum=1_000_000)
        self.max_backlog = check_int("max_backlog", max_backlog, minimum=1, maximum=10_000)
        self.priority = check_int("priority", priority, minimum=-(2**62), maximum=MAX_INT)
        self._transport = transport
        self.queue = queue
        self.handler_name = f"rebellion.alert_webhook.{name}"
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}
        self._client: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None
        self._enqueued = self._posted = self._skipped = self._failures = 0
        self._last_status: int | None = None
        queue.register_handler(self.handler_name, self._deliver)
        registry.track(self)

    # -- enqueue side (an AlertManager callback) -----------------------------------------

    def __call__(self, notification: Notification) -> Coroutine[Any, Any, str]:
        """Fix the notification's place in its group now; return the enqueue to await."""
        return self.notify(notification)

    def notify(self, notification: Notification) -> Coroutine[Any, Any, str]:
        """Store ``notification`` for delivery (the backlog is fixed before this returns).

        Returns:
            A coroutine that enqueues the durable request and gives its id.
        """
        from ...durable.queue import RetryableRequest

        item = {
            "seq": notification.sequence,
            "key": notification.idempotency_key,
            "body": notification.to_payload(),
        }
        stream = notification.stream
        with self._lock:
            state = self._streams.get(stream)
            if state is None:
                state = self._streams[stream] = _Stream()
            state.backlog[notification.sequence] = item
            while len(state.backlog) > self.max_backlog:
                del state.backlog[min(state.backlog)]
            items = [state.backlog[s] for s in sorted(state.backlog)]
            self._enqueued += 1
        request = RetryableRequest(
            self.handler_name,
            args=[stream, items],
            max_retries=self.max_retries,
            idempotency_key=notification.idempotency_key,
        )
        return self.queue.enqueue(request, self.priority)

    # -- delivery side (run by the queue's workers) --------------------------------------

    async def _deliver(self, stream: str, items: list[dict[str, Any]]) -> int:
        with self._lock:
            state = self._streams.get(stream)
            if state is None:  # a request stored before a restart
                state = self._streams[stream] = _Stream()
            if state.lock is None:
                state.lock = asyncio.Lock()
            lock = state.lock
        posted = 0
        async with lock:
            for item in sorted(items, key=lambda i: int(i["seq"])):
                seq = int(item["seq"])
                with self._lock:
                    done = state.delivered(seq)
                    if done:
                        self._skipped += 1
                if done:
                    continue
                body: dict[str, Any] = item["body"]
                key = str(item["key"])
                try:
                    status: int = await self.breaker.execute(self._post, body, key)
                except Exception:
                    with self._lock:
                        self._failures += 1
                    raise
                with self._lock:
                    state.record(seq)
                    self._posted += 1
                    self._last_status = status
                posted += 1
        # The stream (its `mark`) is kept: a late retry of this group must be skipped.
        return posted

    async def _post(self, body: dict[str, Any], key: str) -> int:
        client = self._client_for_loop()
        headers = {**self.headers, "Idempotency-Key": key}
        response = await client.post(self.url, json=body, headers=headers)
        if not 200 <= response.status_code < 300:
            raise WebhookDeliveryError(self.url, response.status_code)
        return response.status_code

    def _client_for_loop(self) -> httpx.AsyncClient:
        import httpx

        loop = asyncio.get_running_loop()
        current = self._client
        if current is not None and current[0] is loop:
            return current[1]
        client = httpx.AsyncClient(
            timeout=self.timeout,
            transport=self._transport,  # type: ignore[arg-type]
        )
        self._client = (loop, client)
        return client

    async def aclose(self) -> None:
        """Close the HTTP client (it is reopened if more deliveries run)."""
        current, self._client = self._client, None
        if current is not None:
            await current[1].aclose()

    def stats(self) -> dict[str, Any]:
        """Return a fresh snapshot of the notifier's counters."""
        with self._lock:
            backlog = sum(len(s.backlog) for s in self._streams.values())
            return {
                "name": self.name,
                "url": self.url,
                "enqueued": self._enqueued,
                "posted": self._posted,
                "duplicates_skipped": self._skipped,
                "post_failures": self._failures,
                "last_status": self._last_status,
                "undelivered": backlog,
                "groups": len(self._streams),
                "breaker": self.breaker.state.value,
            }

    def __repr__(self) -> str:
        return f"WebhookNotifier(url={self.url!r}, name={self.name!r})"


def _headers(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError("headers", "a mapping of header names to strings", value)
    return dict(value)
