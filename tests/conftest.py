"""Shared fixtures: a clean registry per test, drivers for contract tests, real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from _drivers import DRIVER_MODES, Driver
from _redis import REDIS_HOST, REDIS_PORT, TEST_DB, RedisServer, new_namespace, require_redis
from rebellion import registry
from rebellion.config import unload_config


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--include",
        action="append",
        default=[],
        choices=["known-bugs"],
        help="known-bugs: also run the simulation's fault families that hit bugs being fixed",
    )


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    registry.clear()
    yield
    registry.clear()
    unload_config()


@pytest.fixture(params=DRIVER_MODES)
def driver(request: pytest.FixtureRequest) -> Driver:
    return Driver(request.param)


@pytest.fixture
def redis_url() -> str:
    """URL of the shared test database on the machine's Redis (skip/fail if absent)."""
    require_redis()
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{TEST_DB}"


@pytest.fixture
def redis_namespace(redis_url: str) -> Iterator[str]:
    """A key prefix private to this test; every key under it is deleted afterwards."""
    import redis

    namespace = new_namespace()
    yield namespace
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server on a free port, started; the test may stop/start it."""
    with RedisServer() as server:
        yield server
