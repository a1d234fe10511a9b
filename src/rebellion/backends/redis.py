"""The one place that builds Redis clients for the toolkit.

The shared circuit breaker, the Redis rate limiter, the cache's Redis tier, the Redis
request queue and the fleet all connect through these two functions, so they agree on
timeouts, on retries and on which ``Retry`` class goes with which client: redis-py 8
warns when the synchronous ``redis.retry.Retry`` is handed to an asyncio client, and
only the asyncio one (``redis.asyncio.retry.Retry``) may be.

Retries default to none: every caller here sits behind its own policy (a breaker, a
degraded local mode, a lease), and a client that silently retries would hide an
outage from it and multiply the time a caller waits.

>>> client = sync_client("redis://127.0.0.1:6379/0", timeout=0.25)
>>> client.connection_pool.connection_kwargs["socket_timeout"]
0.25
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .._validate import check_int, check_number
from ..errors import ConfigError

__all__ = ["async_client", "connection_errors", "redis_module", "sync_client"]


def redis_module() -> ModuleType:
    """Import redis-py, or explain which extra installs it.

    Raises:
        ImportError: redis-py is not installed.
    """
    try:
        import redis
        import redis.asyncio
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "this feature needs the redis package: pip install 'system-rebellion[redis]'"
        ) from error
    return redis


def connection_errors() -> tuple[type[BaseException], ...]:
    """Return the exceptions that mean "Redis is unreachable or failed", for ``except``."""
    redis = redis_module()
    return (redis.RedisError, OSError)


_SECONDS: dict[str, Any] = {"minimum": 0.0, "maximum": 86_400.0, "exclusive_minimum": True}


def _options(
    url: object, timeout: float | None, connect_timeout: float | None, retries: int
) -> tuple[str, float | None, float | None, int]:
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError("redis_url", "a URL such as 'redis://127.0.0.1:6379/0'", url)
    if timeout is not None:
        timeout = check_number("timeout", timeout, **_SECONDS)
    if connect_timeout is None:
        connect_timeout = timeout
    else:
        connect_timeout = check_number("connect_timeout", connect_timeout, **_SECONDS)
    retries = check_int("retries", retries, minimum=0, maximum=100)
    return url, timeout, connect_timeout, retries


def sync_client(
    url: str,
    *,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    retries: int = 0,
    max_connections: int | None = None,
) -> Any:
    """Build a ``redis.Redis`` for blocking code.

    Args:
        url: a ``redis://`` or ``rediss://`` URL, database number included.
        timeout: seconds a command may wait for its reply; ``None`` waits forever.
        connect_timeout: seconds to connect (defaults to ``timeout``).
        retries: extra attempts redis-py makes on a connection error (no backoff).
        max_connections: bound the pool; callers beyond it wait for a free connection
            (up to ``timeout``) instead of opening more.

    Returns:
        A client whose pool is configured as above.

    Raises:
        ConfigError: a parameter is out of range.
    """
    url, timeout, connect_timeout, retries = _options(url, timeout, connect_timeout, retries)
    redis = redis_module()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kwargs: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": connect_timeout,
        "retry": Retry(NoBackoff(), retries),
    }
    if max_connections is None:
        return redis.Redis.from_url(url, **kwargs)
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=check_int("max_connections", max_connections, minimum=1, maximum=100_000),
        timeout=timeout,
        **kwargs,
    )
    return redis.Redis(connection_pool=pool)


def async_client(
    url: str,
    *,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    retries: int = 0,
    max_connections: int | None = None,
) -> Any:
    """Build a ``redis.asyncio.Redis``; it belongs to the event loop that first uses it.

    Takes the same arguments as :func:`sync_client`, and hands the client the asyncio
    ``Retry`` class, which is the one redis-py's asyncio client accepts without warning.
    """
    url, timeout, connect_timeout, retries = _options(url, timeout, connect_timeout, retries)
    redis = redis_module()
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    kwargs: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": connect_timeout,
        "retry": Retry(NoBackoff(), retries),
    }
    if max_connections is None:
        return redis.asyncio.Redis.from_url(url, **kwargs)
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=check_int("max_connections", max_connections, minimum=1, maximum=100_000),
        timeout=timeout,
        **kwargs,
    )
    return redis.asyncio.Redis(connection_pool=pool)
