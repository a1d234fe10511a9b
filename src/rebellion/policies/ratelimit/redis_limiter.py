"""A rate limit shared by every process that uses the same Redis key.

The GCRA decision runs atomically in a Lua script (``register_script``: sent once,
then called by its SHA). The script reads the time with Redis ``TIME``: every process
then judges against **one** clock, so skew between machines (or a client paused by a
GC) cannot let one process see a full bucket another has emptied. Redis 5+ replicates
a script's effects rather than the script, so the non-deterministic ``TIME`` is safe.
Each key (``{namespace}:{name}``) expires when its bucket would be full again: an idle
limit leaves nothing behind, and an expired key is exactly a fresh bucket.

If Redis cannot be reached the limiter **degrades** to a local bucket of
``rate / processes`` (the expected number of processes sharing the limit), emits
:class:`RateLimiterDegraded`, and tries Redis again every ``retry_interval`` seconds;
on success it emits :class:`RateLimiterRecovered` and is shared again. Callers never
see the outage as an exception.

The bound holds across the switches: every admission through Redis is also charged to
the local bucket, so the fallback starts from what this process took rather than from
a full bucket; and every request to Redis carries the local bucket's debt as a floor
for the shared one, so tokens taken locally during the outage are not handed out again
by Redis when it returns.

>>> limiter = RedisRateLimiter(rate=100, url="redis://127.0.0.1:1/0", name="api")
>>> limiter.stats()["backend"]
'redis'
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Iterable
from typing import Any, ClassVar, final

from ..._clock import Clock
from ..._driver import Paced
from ..._events import EventStream, Listener
from ..._registry import registry
from ..._validate import check_clock, check_int, check_name, check_number
from ...errors import ConfigError, RateLimitedError
from ..deadline import cut
from ..snapshots import RedisRateLimiterSnapshot
from ._events import RateChanged, RateLimiterDegraded, RateLimiterRecovered, RateLimitExceeded
from ._gcra import EPSILON, GcraCore, check_cost, check_rate
from ._gcra_lua import GCRA_SCRIPT, GIVE_BACK_SCRIPT, US, give_back_args, script_args

__all__ = ["RedisRateLimiter"]

INF = float("inf")
NAN = float("nan")


@final
class RedisRateLimiter(Paced):
    """The :class:`RateLimiter` API, with the bucket kept in Redis for many processes.

    Args:
        rate: tokens per ``per`` seconds, for all processes together (> 0).
        per: the period of ``rate`` in seconds.
        burst: bucket size (default: ``rate``, at least 1).
        max_wait: seconds a guarded call may wait for its turn (0: refuse at once).
        name: the limit's name; processes sharing a limit use the same name.
        url: Redis URL; clients are created from it (sync, and one async per event loop).
        client: a ``redis.Redis`` to use instead of ``url`` for sync calls.
        async_client: a ``redis.asyncio.Redis`` to use instead of ``url`` for async calls.
        namespace: key prefix (the key is ``{namespace}:{name}``).
        processes: expected number of processes sharing the limit; while Redis is
            unreachable each enforces ``rate / processes`` locally.
        retry_interval: seconds between attempts to reach Redis again while degraded.
        socket_timeout: connect and read timeout of clients created from ``url``.
        clock: time source for waits and the retry schedule.
        listeners: callables receiving this limiter's events.

    Raises:
        ConfigError: a parameter is out of range, or neither ``url`` nor a client given.
    """

    kind: ClassVar[str] = "redis_rate_limiter"

    def __init__(
        self,
        rate: float,
        *,
        per: float = 1.0,
        burst: float | None = None,
        max_wait: float = 0.0,
        name: str = "rate_limiter",
        url: str | None = None,
        client: Any = None,
        async_client: Any = None,
        namespace: str = "rebellion:ratelimit",
        processes: int = 1,
        retry_interval: float = 1.0,
        socket_timeout: float = 0.25,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        self._rate, self._per, self._burst = check_rate(rate, per, burst)
        self.max_wait = check_number("max_wait", max_wait, minimum=0.0, allow_inf=True)
        if url is None and client is None and async_client is None:
            raise ConfigError("url", "a Redis URL (or pass client / async_client)", url)
        if url is not None and not isinstance(url, str):
            raise ConfigError("url", "a Redis URL string such as 'redis://host:6379/0'", url)
        self.namespace = check_name("namespace", namespace)
        self.processes = check_int("processes", processes, minimum=1)
        self.retry_interval = check_number(
            "retry_interval", retry_interval, minimum=0.0, exclusive_minimum=True
        )
        self._socket_timeout = check_number(
            "socket_timeout", socket_timeout, minimum=0.0, exclusive_minimum=True
        )
        self._clock = check_clock(clock)
        self.events = EventStream(self.name, listeners)
        self.key = f"{self.namespace}:{self.name}"
        self._url = url
        self._client = client
        self._async_client = async_client
        self._async_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._scripts: dict[int, tuple[Any, Any]] = {}
        self._local = GcraCore(
            self._rate / self.processes, self._per, max(1.0, self._burst / self.processes)
        )
        self._lock = threading.Lock()
        self.degraded = False
        self._degraded_since = 0.0
        self._retry_at = 0.0
        self.admitted = self.rejected = self.cancelled = self.degradations = 0
        registry.track(self)

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    def set_rate(self, rate: float, burst: float | None = None) -> None:
        """Change the shared rate (and optionally burst) as this process applies it.

        Every process sends its own rate with each decision: change it in all of them.

        Raises:
            ConfigError: ``rate`` or ``burst`` is out of range.
        """
        r, p, b = check_rate(rate, self._per, self._burst if burst is None else burst)
        old_rate, old_burst = self._rate, self._burst
        self._rate, self._burst = r, b
        share = self.processes
        self._local.set_rate(r / share, p, max(1.0, b / share), self._clock.monotonic())
        if self.events.active:
            self.events.emit(RateChanged(self.name, self._clock.wall(), old_rate, r, old_burst, b))

    # -- clients -------------------------------------------------------------------------

    def _sync_client(self) -> Any:
        if self._client is None:
            from ...backends.redis import sync_client

            self._client = sync_client(self._url or "", timeout=self._socket_timeout)
        return self._client

    def _loop_client(self) -> Any:
        if self._async_client is not None:
            return self._async_client
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            from ...backends.redis import async_client

            client = async_client(self._url or "", timeout=self._socket_timeout)
            self._async_clients[loop] = client
        return client

    def _scripts_for(self, client: Any) -> tuple[Any, Any]:
        scripts = self._scripts.get(id(client))
        if scripts is None:
            scripts = (
                client.register_script(GCRA_SCRIPT),
                client.register_script(GIVE_BACK_SCRIPT),
            )
            self._scripts[id(client)] = scripts
        return scripts

    @staticmethod
    def _outage_errors() -> tuple[type[BaseException], ...]:
        from redis.exceptions import ConnectionError, TimeoutError

        return (ConnectionError, TimeoutError, OSError)

    def close(self) -> None:
        """Close the sync client this limiter created (a passed-in client is left open)."""
        if self._client is not None and self._url is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the async client of the running loop (if created here) and the sync one."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - always called from a coroutine
            loop = None
        client = self._async_clients.pop(loop, None) if loop is not None else None
        if client is not None:
            self._scripts.pop(id(client), None)
            await client.aclose()
        self.close()

    # -- shared decision, with degradation ---------------------------------------------------

    def _args(self, n: int, limit: float) -> list[float]:
        # This process's local debt, in the shared bucket's seconds (a share is 1/processes).
        floor = self._local.debt(self._clock.monotonic()) / self.processes
        return script_args(self._rate, self._per, self._burst, n, limit, floor)

    def _should_try(self) -> bool:
        if not self.degraded:
            return True
        now = self._clock.monotonic()
        with self._lock:
            if now < self._retry_at:
                return False
            self._retry_at = now + self.retry_interval  # one probe per interval
        return True

    def _reply(self, reply: Any, n: int) -> tuple[float, float, str]:
        admitted, wait_us, token = reply
        if self.degraded:
            self._recovered()
        token_text = token.decode() if isinstance(token, bytes) else str(token)
        wait = wait_us / US
        if admitted:
            self._local.charge(n, self._clock.monotonic(), wait)
        return (1.0 if admitted else 0.0), wait, token_text

    def _shared_sync(self, n: int, limit: float) -> tuple[float, float, str] | None:
        if not self._should_try():
            return None
        try:
            client = self._sync_client()
            gcra, _ = self._scripts_for(client)
            reply = gcra(keys=[self.key], args=self._args(n, limit), client=client)
        except self._outage_errors() as error:
            self._degrade(error)
            return None
        return self._reply(reply, n)

    async def _shared_async(self, n: int, limit: float) -> tuple[float, float, str] | None:
        if not self._should_try():
            return None
        try:
            client = self._loop_client()
            gcra, _ = self._scripts_for(client)
            reply = await gcra(keys=[self.key], args=self._args(n, limit), client=client)
        except self._outage_errors() as error:
            self._degrade(error)
            return None
        return self._reply(reply, n)

    def _degrade(self, error: BaseException) -> None:
        now = self._clock.monotonic()
        with self._lock:
            first = not self.degraded
            self.degraded = True
            self._retry_at = now + self.retry_interval
            if first:
                self._degraded_since = now
                self.degradations += 1
        if first and self.events.active:
            reason = f"{type(error).__name__}: {error}"
            event = RateLimiterDegraded(self.name, self._clock.wall(), reason, self._local.rate)
            self.events.emit(event)

    def _recovered(self) -> None:
        with self._lock:
            if not self.degraded:
                return
            self.degraded = False
            downtime = self._clock.monotonic() - self._degraded_since
        if self.events.active:
            self.events.emit(RateLimiterRecovered(self.name, self._clock.wall(), downtime))

    def _count(self, admitted: bool) -> None:
        with self._lock:
            if admitted:
                self.admitted += 1
            else:
                self.rejected += 1

    def _refuse(self, n: int, wait: float) -> RateLimitedError:
        self._count(False)
        if self.events.active:
            self.events.emit(RateLimitExceeded(self.name, self._clock.wall(), n, wait))
        return RateLimitedError(
            self.name,
            f"rate limiter {self.name!r}: over {self._rate:g} per {self._per:g}s "
            f"(retry in {wait:.3g}s)",
            wait,
        )

    # -- permits -------------------------------------------------------------------------

    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` tokens if available now (shared, or local while degraded)."""
        if n != 1:
            check_cost(n, self._burst)
        reply = self._shared_sync(n, 0.0)
        if reply is None:
            wait = self._local.take(n, self._clock.monotonic())
            admitted = not wait
        else:
            admitted, wait = bool(reply[0]), reply[1]
        if admitted:
            self._count(True)
            return True
        self._refuse(n, wait)
        return False

    def acquire(self, n: int = 1, *, max_wait: float | None = None) -> None:
        """Wait (blocking) until ``n`` tokens are granted.

        Raises:
            RateLimitedError: the turn would come later than ``max_wait`` seconds.
        """
        limit = INF if max_wait is None else check_number("max_wait", max_wait, minimum=0.0)
        if n != 1:
            check_cost(n, self._burst)
        self._wait_sync(n, limit)

    async def acquire_async(self, n: int = 1, *, max_wait: float | None = None) -> None:
        """Wait (cancellably) until ``n`` tokens are granted.

        Raises:
            RateLimitedError: the turn would come later than ``max_wait`` seconds.
        """
        limit = INF if max_wait is None else check_number("max_wait", max_wait, minimum=0.0)
        if n != 1:
            check_cost(n, self._burst)
        await self._wait_async(n, limit)

    def _wait_sync(self, n: int, limit: float) -> None:
        clock = self._clock
        limit = cut(limit)  # an enclosing timeout's deadline cuts the wait
        reply = self._shared_sync(n, limit)
        if reply is None:
            self._local_wait_sync(n, limit)
            return
        admitted, wait, token = reply
        if not admitted:
            raise self._refuse(n, wait)
        self._count(True)
        if wait > EPSILON:
            try:
                clock.sleep(wait)
            except BaseException:
                self._give_back_sync(n, token)
                raise

    async def _wait_async(self, n: int, limit: float) -> None:
        clock = self._clock
        limit = cut(limit)  # an enclosing timeout's deadline cuts the wait
        reply = await self._shared_async(n, limit)
        if reply is None:
            await self._local_wait_async(n, limit)
            return
        admitted, wait, token = reply
        if not admitted:
            raise self._refuse(n, wait)
        self._count(True)
        if wait > EPSILON:
            try:
                await clock.sleep_async(wait)
            except BaseException:
                await self._give_back_async(n, token)
                raise

    def _give_back_sync(self, n: int, token: str) -> None:
        try:
            client = self._sync_client()
            _, give_back = self._scripts_for(client)
            give_back(keys=[self.key], args=give_back_args(token, self._rate, self._per, n))
        except self._outage_errors():
            return
        with self._lock:
            self.admitted -= 1
            self.cancelled += 1

    async def _give_back_async(self, n: int, token: str) -> None:
        try:
            client = self._loop_client()
            _, give_back = self._scripts_for(client)
            await give_back(keys=[self.key], args=give_back_args(token, self._rate, self._per, n))
        except self._outage_errors():
            return
        with self._lock:
            self.admitted -= 1
            self.cancelled += 1

    def _local_wait_sync(self, n: int, limit: float) -> None:
        clock = self._clock
        wait, at, token = self._local.reserve(n, clock.monotonic(), limit)
        if token != token:
            raise self._refuse(n, wait)
        self._count(True)
        try:
            clock.sleep(wait)
        except BaseException:
            self._local.give_back(n, at, token, clock.monotonic())
            raise

    async def _local_wait_async(self, n: int, limit: float) -> None:
        clock = self._clock
        wait, at, token = self._local.reserve(n, clock.monotonic(), limit)
        if token != token:
            raise self._refuse(n, wait)
        self._count(True)
        try:
            await clock.sleep_async(wait)
        except BaseException:
            self._local.give_back(n, at, token, clock.monotonic())
            raise

    # -- the turn the driver template waits for ------------------------------------------

    def _turn_sync(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._wait_sync(1, self.max_wait)

    def _turn_async(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[None]:
        return self._wait_async(1, self.max_wait)

    # -- observation ---------------------------------------------------------------------

    def stats(self) -> RedisRateLimiterSnapshot:
        """Return a snapshot: limits, backend in use and this process's counters."""
        return RedisRateLimiterSnapshot(
            kind=self.kind,
            name=self.name,
            key=self.key,
            rate=self._rate,
            per=self._per,
            burst=self._burst,
            max_wait=self.max_wait,
            backend="local" if self.degraded else "redis",
            degraded=self.degraded,
            local_rate=self._local.rate,
            processes=self.processes,
            degradations=self.degradations,
            admitted=self.admitted,
            rejections=self.rejected,
            cancelled=self.cancelled,
        )

    def __repr__(self) -> str:
        backend = "local" if self.degraded else "redis"
        return f"RedisRateLimiter(name={self.name!r}, key={self.key!r}, backend={backend})"
