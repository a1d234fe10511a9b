"""RedisRequestQueue when Redis is down, frozen or holds a damaged request."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from _queue_helpers import until

from _redis import RedisServer
from rebellion.backends.redis import sync_client
from rebellion.durable import RequestQuarantined, RetryableRequest
from rebellion.durable.queue.redis_queue import RedisRequestQueue
from rebellion.errors import BackendUnavailableError, ConfigError, RejectedError, StorageError
from rebellion.testing import ManualClock, RecordingListener


@pytest.fixture
async def fqueue(redis_server: RedisServer) -> AsyncIterator[RedisRequestQueue]:
    queue = RedisRequestQueue(
        redis_server.url, clock=ManualClock(), timeout=0.3, poll_interval=0.5, name="faults"
    )
    yield queue
    await queue.aclose()


@contextmanager
def frozen(server: RedisServer) -> Iterator[None]:
    """SIGSTOP the server for the block; it is always resumed, whatever happens."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


@pytest.fixture
def two_stored(
    redis_server: RedisServer, fqueue: RedisRequestQueue
) -> Iterator[Callable[[], bool]]:
    """A probe: has the server stored two requests (the warm one and the retried one)?"""
    client = sync_client(redis_server.url, timeout=5.0)
    key = f"{fqueue.prefix}:{fqueue.name}:live"
    yield lambda: int(client.get(key) or 0) == 2
    client.close()


async def test_redis_down_is_backend_unavailable_with_retry_after(
    fqueue: RedisRequestQueue, redis_server: RedisServer
) -> None:
    await fqueue.enqueue(RetryableRequest("record"))
    redis_server.stop()
    request = RetryableRequest("record", args=[1])
    with pytest.raises(BackendUnavailableError) as caught:
        await fqueue.enqueue(request)
    error = caught.value
    assert isinstance(error, StorageError)
    assert not isinstance(error, RejectedError)  # its outcome is unknown, not "never ran"
    assert error.retry_after == 0.5
    assert error.store == "faults"
    assert f"127.0.0.1:{redis_server.port}" in str(error)
    assert type(error.__cause__).__module__.startswith("redis")
    for blocking in (
        lambda: fqueue.enqueue_sync(request),
        fqueue.stats,
        fqueue.dead_letters,
    ):
        with pytest.raises(BackendUnavailableError):
            blocking()
    with pytest.raises(BackendUnavailableError):
        await fqueue.process_available()
    # Back up (empty: the private server keeps nothing): the retry stores it once.
    redis_server.start()
    first = await fqueue.enqueue(request)
    assert await fqueue.enqueue(request) != first  # settled: a new enqueue is a new request
    assert fqueue.stats()["pending"] == 2


async def test_frozen_redis_times_out_and_the_retry_is_not_duplicated(
    fqueue: RedisRequestQueue, redis_server: RedisServer, two_stored: Callable[[], bool]
) -> None:
    seen: list[Any] = []
    fqueue.register_handler("record", seen.append)
    await fqueue.enqueue(RetryableRequest("record", args=["warm"]))  # scripts loaded
    request = RetryableRequest("record", args=["once"])
    with frozen(redis_server):
        async with asyncio.timeout(30):  # bounded by the queue's own 0.3 s timeout
            with pytest.raises(BackendUnavailableError, match="Timeout"):
                await fqueue.enqueue(request)
    # The frozen server had the command in its socket: it ran it on resuming.
    await until(two_stored, within=30)
    first_id = await fqueue.enqueue(request)  # the caller's retry, same request object
    stats = fqueue.stats()
    assert (stats["pending"], stats["duplicates"], stats["enqueued"]) == (2, 1, 1)
    assert await fqueue.process_available() == 2
    assert seen == ["warm", "once"]
    assert isinstance(first_id, str)


async def test_a_retry_after_the_request_ran_is_not_stored_again(
    fqueue: RedisRequestQueue, redis_server: RedisServer, two_stored: Callable[[], bool]
) -> None:
    seen: list[Any] = []
    fqueue.register_handler("record", seen.append)
    fqueue.enqueue_sync(RetryableRequest("record", args=["warm"]))  # connected, scripts loaded
    request = RetryableRequest("record", args=["once"])
    with frozen(redis_server), pytest.raises(BackendUnavailableError):
        fqueue.enqueue_sync(request)
    await until(two_stored, within=30)
    assert await fqueue.process_available() == 2  # it ran and was acked meanwhile
    fqueue.enqueue_sync(request)  # the late retry
    assert await fqueue.process_available() == 0
    assert seen == ["warm", "once"]
    assert fqueue.stats()["duplicates"] == 1


async def test_workers_survive_a_frozen_redis(
    fqueue: RedisRequestQueue, redis_server: RedisServer
) -> None:
    seen: list[Any] = []
    fqueue.register_handler("record", seen.append)
    runner = asyncio.create_task(fqueue.process_queue(concurrency=2))
    try:
        with frozen(redis_server):
            await until(lambda: fqueue._store_errors.value >= 1, within=30)
        await fqueue.enqueue(RetryableRequest("record", args=["after"]))
        await until(lambda: seen == ["after"], within=30)
    finally:
        await fqueue.stop(grace=5)
        await runner


async def test_undecodable_request_is_quarantined(
    fqueue: RedisRequestQueue, redis_server: RedisServer
) -> None:
    listener: RecordingListener[Any] = RecordingListener()
    fqueue._events.subscribe(listener)
    seen: list[Any] = []
    fqueue.register_handler("record", seen.append)
    bad = await fqueue.enqueue(RetryableRequest("record", args=["bad"]))
    await fqueue.enqueue(RetryableRequest("record", args=["good"]))
    client = sync_client(redis_server.url, timeout=5.0)
    try:
        client.hset(f"{fqueue.prefix}:{fqueue.name}:req:{bad}", "payload", b"\xff{not json")
    finally:
        client.close()
    assert await fqueue.process_available() == 1
    assert seen == ["good"]
    assert fqueue.stats()["quarantined"] == 1
    assert [e.request_id for e in listener.of_type(RequestQuarantined)] == [bad]
    (letter,) = fqueue.dead_letters()
    assert letter.id == bad
    assert letter.damage is not None
    assert letter.last_error.startswith("undecodable row: ")


def test_bad_timeouts_are_named(redis_server: RedisServer) -> None:
    with pytest.raises(ConfigError, match=r"^timeout must be"):
        RedisRequestQueue(redis_server.url, timeout=0)
    with pytest.raises(ConfigError, match=r"^connect_timeout must be"):
        RedisRequestQueue(redis_server.url, connect_timeout=-1)
    with pytest.raises(ConfigError, match=r"^retry_window must be"):
        RedisRequestQueue(redis_server.url, retry_window=-1)
