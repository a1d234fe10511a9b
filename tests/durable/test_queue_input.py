"""Bad input gets a clear error naming the parameter; bad storage fails at construction."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from _queue_handlers import echo

from rebellion.durable import PersistentRequestQueue, RetryableRequest
from rebellion.errors import ConfigError, StoreCorruptError
from rebellion.testing import ManualClock


def closure_factory() -> Any:
    def inner() -> None:
        return None

    return inner


class Service:
    def method(self) -> None:
        return None


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"storage_path": 3}, "storage_path"),
        ({"storage_path": ""}, "storage_path"),
        ({"storage_path": ":memory:"}, "storage_path"),
        ({"max_size": 0}, "max_size"),
        ({"max_size": 1.5}, "max_size"),
        ({"max_size": True}, "max_size"),
        ({"clock": "now"}, "clock"),
        ({"name": " q"}, "name"),
        ({"name": ""}, "name"),
        ({"lease_timeout": 0}, "lease_timeout"),
        ({"lease_timeout": float("nan")}, "lease_timeout"),
        ({"retry_backoff": 2.0}, "retry_backoff"),
        ({"poll_interval": -1}, "poll_interval"),
        ({"idempotency_ttl": -5}, "idempotency_ttl"),
        ({"listeners": [42]}, "listeners"),
    ],
)
def test_bad_queue_parameter_is_named(
    tmp_path: Path, kwargs: dict[str, Any], parameter: str
) -> None:
    arguments: dict[str, Any] = {"storage_path": tmp_path / "q.db", **kwargs}
    with pytest.raises(ConfigError, match=rf"^{parameter}\b"):
        PersistentRequestQueue(**arguments)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"operation_func": lambda: None}, "operation_func"),
        ({"operation_func": closure_factory()}, "operation_func"),
        ({"operation_func": Service().method}, "operation_func"),
        ({"operation_func": 42}, "operation_func"),
        ({"operation_func": ""}, "operation_func"),
        ({"operation_func": " padded"}, "operation_func"),
        ({"args": "abc"}, "args"),
        ({"args": [1, object()]}, r"args\[1\]"),
        ({"args": [float("nan")]}, r"args\[0\]"),
        ({"args": [{"deep": [1, {2}]}]}, r"args\[0\]\['deep'\]\[1\]"),
        ({"args": [{1: "x"}]}, r"args\[0\] key"),
        ({"kwargs": [("a", 1)]}, "kwargs"),
        ({"kwargs": {"when": Path("x")}}, r"kwargs\['when'\]"),
        ({"kwargs": {1: "x"}}, "kwargs"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.0}, "max_retries"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": 5}, "idempotency_key"),
        ({"idempotency_key": "k" * 513}, "idempotency_key"),
    ],
)
def test_bad_request_parameter_is_named(kwargs: dict[str, Any], parameter: str) -> None:
    arguments: dict[str, Any] = {"operation_func": echo, **kwargs}
    with pytest.raises(ConfigError, match=rf"^{parameter}"):
        RetryableRequest(**arguments)


def test_functions_are_stored_by_import_path_never_pickled() -> None:
    request = RetryableRequest(echo, args=[1, "two", None, [3.5]], kwargs={"k": {"v": True}})
    assert request.operation == "_queue_handlers:echo"
    assert request.payload == '{"args":[1,"two",null,[3.5]],"kwargs":{"k":{"v":true}}}'
    assert "echo" in repr(request)


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        ({"request": "not a request"}, "request"),
        ({"priority": 1.5}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"priority": 2**70}, "priority"),
        ({"delay": -1}, "delay"),
        ({"delay": float("inf")}, "delay"),
        ({"not_before": float("nan")}, "not_before"),
    ],
)
async def test_bad_enqueue_argument_is_named_and_nothing_is_stored(
    queue: PersistentRequestQueue, call: dict[str, Any], parameter: str
) -> None:
    arguments: dict[str, Any] = {"request": RetryableRequest(echo), **call}
    with pytest.raises(ConfigError, match=rf"^{parameter}\b"):
        await queue.enqueue(**arguments)
    with pytest.raises(ConfigError, match=rf"^{parameter}\b"):
        queue.enqueue_sync(**arguments)
    assert queue.stats()["pending"] == 0


async def test_bad_worker_arguments_are_named(queue: PersistentRequestQueue) -> None:
    with pytest.raises(ConfigError, match=r"^concurrency"):
        await queue.process_queue(concurrency=0)
    with pytest.raises(ConfigError, match=r"^name"):
        queue.register_handler("a:b", echo)
    with pytest.raises(ConfigError, match=r"^fn"):
        queue.register_handler("ok", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^lease"):
        await queue.claim(lease=0)
    with pytest.raises(ConfigError, match=r"^limit"):
        queue.dead_letters(limit=0)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^storage_path must be a path in an existing dir"):
        PersistentRequestQueue(tmp_path / "nope" / "q.db")


def test_directory_instead_of_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^storage_path must be a file path"):
        PersistentRequestQueue(tmp_path)


def test_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreCorruptError, match=r"is damaged \(file is not a database\)"):
        PersistentRequestQueue(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_read_only_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    PersistentRequestQueue(path).close()
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match=r"^storage_path must be a writable SQLite"):
            PersistentRequestQueue(path)
    finally:
        tmp_path.chmod(0o755)


async def test_closed_queue_refuses_enqueue(tmp_path: Path) -> None:
    queue = PersistentRequestQueue(tmp_path / "q.db", clock=ManualClock())
    queue.close()
    queue.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await queue.enqueue(RetryableRequest(echo))


def test_a_store_handed_to_a_queue_with_bad_settings_is_closed(tmp_path: Path) -> None:
    import sqlite3

    from rebellion.durable.queue import RequestQueue, SqliteQueueStore

    store = SqliteQueueStore(str(tmp_path / "q.db"))
    with pytest.raises(ConfigError, match="lease_timeout"):
        RequestQueue(store, lease_timeout=-1.0)
    with pytest.raises(sqlite3.ProgrammingError):
        store._read("SELECT 1")  # the queue owns its store: it closed it
