"""Redis-shared breaker group: one successful call through a breaker kept in Redis.

rebellion's ``SharedCircuitBreaker`` with a count window sends one ``EVALSHA`` per call
(the outcome must reach the shared window); in consecutive mode a success with no
failures to reset costs no round trip while its cached CLOSED state is fresh. The peer
is pybreaker with its ``CircuitRedisStorage`` (several Redis commands per call), and the
reference is one raw redis-py ``EVALSHA`` of a script that returns at once: the floor of
any breaker that decides in Redis. Redis rows raise ``Unavailable`` without a server.

>>> [g.name for g in groups()]
['shared_breaker_call']
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from _common import Contender, Group
from _harness import Op, Runner, Unavailable
from _targets import at_most_times, faster_by

__all__ = ["TARGETS", "groups"]

REDIS_URL = os.environ.get("REBELLION_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
RAW = "redis-py EVALSHA (raw round trip)"
WINDOW = "rebellion SharedCircuitBreaker.call (count window)"
PYBREAKER = "pybreaker CircuitRedisStorage call"


def _client() -> Any:
    try:
        import redis
    except ImportError as error:  # pragma: no cover - redis is in the dev extra
        raise Unavailable(f"redis-py missing: {error}") from error
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except Exception as error:
        raise Unavailable(f"no Redis at {REDIS_URL}: {type(error).__name__}") from error
    return client


def _callee() -> str:
    return "ok"


def _shared(**settings: Any) -> Any:
    from rebellion.policies.circuit_breaker.shared import SharedCircuitBreaker

    _client().close()  # Unavailable without a server
    return SharedCircuitBreaker(
        f"bench-{uuid.uuid4().hex[:8]}",
        REDIS_URL,
        key_prefix="rbbench:shared",
        key_ttl=600,
        **settings,
    )


def _rebellion_window(runner: Runner) -> Op:
    breaker = _shared(window_type="count", window_size=100, minimum_calls=10)
    return Op(fn=breaker.call, args=(_callee,), returns="ok")


def _rebellion_consecutive(runner: Runner) -> Op:
    breaker = _shared(failure_threshold=5)
    return Op(fn=breaker.call, args=(_callee,), returns="ok")


def _rebellion_open(runner: Runner) -> Op:
    from rebellion.errors import CircuitOpenError

    breaker = _shared(window_type="count", window_size=10, minimum_calls=1, reset_timeout=600)

    def fail() -> None:
        raise ConnectionError

    try:
        breaker.call(fail)
    except ConnectionError:
        pass
    if breaker.state != "OPEN":
        raise Unavailable("the shared breaker did not open")
    return Op(fn=breaker.call, args=(_callee,), raises=CircuitOpenError)


def _raw(runner: Runner) -> Op:
    client = _client()
    script = client.register_script("return 1")
    key = f"rbbench:{uuid.uuid4().hex[:8]}"

    def evalsha(name: str) -> object:
        return script(keys=[name])

    return Op(fn=evalsha, args=(key,), returns=1)


def _pybreaker(runner: Runner) -> Op:
    import pybreaker

    client = _client()
    storage = pybreaker.CircuitRedisStorage(
        pybreaker.STATE_CLOSED, client, namespace=f"rbbench:{uuid.uuid4().hex[:8]}"
    )
    breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60, state_storage=storage)
    return Op(fn=breaker.call, args=(_callee,), returns="ok")


def groups() -> list[Group]:
    """Return the shared-breaker group."""
    return [
        Group(
            "shared_breaker_call",
            "A successful call through a breaker whose state lives in Redis",
            [
                Contender(WINDOW, "rebellion", _rebellion_window, True),
                Contender(
                    "rebellion SharedCircuitBreaker.call (consecutive, cached CLOSED)",
                    "rebellion",
                    _rebellion_consecutive,
                    True,
                ),
                Contender(
                    "rebellion SharedCircuitBreaker.call rejected (OPEN)",
                    "rebellion",
                    _rebellion_open,
                    True,
                ),
                Contender(RAW, "redis", _raw),
                Contender(PYBREAKER, "pybreaker", _pybreaker),
            ],
            notes=[
                "All rows use the same server (REBELLION_BENCH_REDIS_URL, default db 13).",
                "The count-window row is one EVALSHA per call: acquire is answered from the "
                "cached CLOSED state, the outcome is recorded (and judged) in one script.",
                "The OPEN row rejects from the cached deadline without a round trip.",
            ],
        )
    ]


TARGETS = [
    at_most_times("shared_breaker_call", WINDOW, RAW, 2.0),
    faster_by("shared_breaker_call", WINDOW, PYBREAKER, 1.0),
]
"""The shared breaker's targets."""
