"""The publisher: bounded streams, a bounded backlog, and Redis faults never block it."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator

import pytest
import redis
from _fleet import eventually

from _redis import RedisServer, free_port
from rebellion.errors import ConfigError
from rebellion.fleet import Publisher


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def entries(client: redis.Redis, key: str) -> list[dict[str, object]]:
    return [json.loads(fields[b"d"]) for _, fields in client.xrange(key)]


def test_entries_reach_the_host_streams_in_order(
    redis_url: str, redis_namespace: str, client: redis.Redis
) -> None:
    publisher = Publisher(redis_url, host_id="web-1", process="api", prefix=redis_namespace)
    publisher.start()
    try:
        for n in range(20):
            publisher.publish("events", "event", {"n": n})
        publisher.publish("samples", "sample", {"at": 1.0, "values": {"cpu.total": 3.5}})
        key = f"{redis_namespace}:{{web-1}}:events"
        eventually(lambda: client.xlen(key) == 20, what="20 events in the stream")
        assert [e["n"] for e in entries(client, key)] == list(range(20))
        _, fields = client.xrange(f"{redis_namespace}:{{web-1}}:samples")[0]
        assert fields[b"p"] == b"api"
        assert fields[b"t"] == b"sample"
        assert client.zscore(f"{redis_namespace}:hosts", "web-1") is not None
        # A host gone for good leaves nothing behind: its streams expire a day later.
        assert 0 < client.ttl(key) <= 86_400
        assert publisher.stats()["sent"] == 21
        assert publisher.stats()["dropped"] == 0
    finally:
        publisher.close()


def test_streams_stay_bounded(redis_url: str, redis_namespace: str, client: redis.Redis) -> None:
    publisher = Publisher(
        redis_url, host_id="web-1", prefix=redis_namespace, maxlen={"events": 10}, batch=50
    )
    publisher.start()
    try:
        for n in range(2000):
            publisher.publish("events", "event", {"n": n})
        eventually(lambda: publisher.stats()["sent"] == 2000, what="all sent")
        # MAXLEN ~ trims whole stream nodes (100 entries each): at most one node beyond.
        assert client.xlen(f"{redis_namespace}:{{web-1}}:events") <= 10 + 100
    finally:
        publisher.close()


def test_threads_publishing_at_once_lose_nothing(
    redis_url: str, redis_namespace: str, client: redis.Redis
) -> None:
    publisher = Publisher(
        redis_url, host_id="web-1", prefix=redis_namespace, maxlen={"events": 100_000}
    )
    publisher.start()

    def work(t: int) -> None:
        for n in range(250):
            publisher.publish("events", "event", {"t": t, "n": n})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        eventually(lambda: publisher.stats()["sent"] == 2000, what="all sent")
        got = entries(client, f"{redis_namespace}:{{web-1}}:events")
        assert sorted((e["t"], e["n"]) for e in got) == [
            (t, n) for t in range(8) for n in range(250)
        ]
        for t in range(8):  # each thread's entries keep their order
            assert [e["n"] for e in got if e["t"] == t] == list(range(250))
    finally:
        publisher.close()


def test_unreachable_redis_keeps_a_bounded_backlog_and_counts_drops() -> None:
    publisher = Publisher(f"redis://127.0.0.1:{free_port()}/0", host_id="web-1", backlog=10)
    publisher.start()
    try:
        for n in range(100):
            publisher.publish("events", "event", {"n": n})  # returns at once: only queued
        # Every entry is sent, dropped or pending at any moment; none is sent here.
        stats = publisher.stats()
        assert stats["dropped"] + stats["pending"] == 100
        stats = eventually(lambda: (s := publisher.stats())["failures"] and s)
        assert stats["dropped"] + stats["pending"] == 100
        assert stats["pending"] <= 10 + 500  # the backlog and one batch in flight
        assert stats["sent"] == 0
        assert stats["connected"] is False
        assert "Connection" in stats["last_error"]
    finally:
        publisher.close(timeout=0.5)
    assert publisher.stats()["pending"] <= 10


def test_a_redis_restart_loses_nothing_in_the_backlog(redis_server: RedisServer) -> None:
    publisher = Publisher(redis_server.url, host_id="web-1", backlog=1000)
    publisher.start()
    client = redis.Redis.from_url(redis_server.url)
    key = "rebellion:fleet:{web-1}:events"
    try:
        publisher.publish("events", "event", {"n": 0})
        eventually(lambda: client.xlen(key) == 1, what="first entry")
        redis_server.stop()
        for n in range(1, 51):
            publisher.publish("events", "event", {"n": n})
        eventually(lambda: publisher.stats()["failures"] > 0, what="a failed write")
        redis_server.start()  # an empty server: nothing saved
        eventually(
            lambda: client.xlen(key) == 50,
            what=lambda: f"the backlog written ({publisher.stats()}, {client.xlen(key)})",
        )
        assert [e["n"] for e in entries(client, key)] == list(range(1, 51))
        assert publisher.stats()["dropped"] == 0
        assert publisher.stats()["connected"]
    finally:
        client.close()
        publisher.close()


def test_a_full_redis_never_blocks_and_the_backlog_drains_once_it_has_room(
    redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.set("ballast", b"x" * 4_000_000)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "2mb")  # below what is used: every write is refused
    publisher = Publisher(redis_server.url, host_id="web-1", backlog=20)
    publisher.start()
    key = "rebellion:fleet:{web-1}:events"
    try:
        for n in range(100):
            publisher.publish("events", "event", {"n": n})
        stats = eventually(lambda: (s := publisher.stats())["failures"] and s)
        assert "maxmemory" in stats["last_error"]
        assert stats["dropped"] + stats["pending"] == 100
        client.config_set("maxmemory", "0")
        eventually(lambda: client.xlen(key) == 20, what="the kept backlog written")
        assert [e["n"] for e in entries(client, key)] == list(range(80, 100))
    finally:
        client.close()
        publisher.close()


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"host_id": "web 1"}, "host_id"),
        ({"host_id": ""}, "host_id"),
        ({"process": "a/b"}, "process"),
        ({"backlog": 0}, "backlog"),
        ({"batch": 0}, "batch"),
        ({"timeout": 0}, "timeout"),
        ({"maxlen": {"logs": 5}}, "maxlen"),
        ({"maxlen": {"events": 0}}, "maxlen[events]"),
        ({"retention": 1}, "retention"),
    ],
)
def test_bad_settings_are_refused_by_name(options: dict[str, object], parameter: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{re.escape(parameter)} must"):
        Publisher("redis://127.0.0.1:6379/0", **options)  # type: ignore[arg-type]


def test_bad_url_and_stream_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="redis_url"):
        Publisher("localhost:6379")
    publisher = Publisher("redis://127.0.0.1:6379/0", host_id="web-1")
    with pytest.raises(ConfigError, match="stream"):
        publisher.publish("logs", "event", {})
