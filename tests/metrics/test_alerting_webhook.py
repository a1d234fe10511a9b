"""Webhook delivery: durable queue, breaker, per-group order, idempotency keys."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from rebellion import CircuitBreaker
from rebellion.durable.queue import PersistentRequestQueue
from rebellion.errors import ConfigError
from rebellion.metrics.alerting import AlertManager, Notification, ThresholdRule
from rebellion.metrics.alerting.webhook import WebhookDeliveryError, WebhookNotifier
from rebellion.policies._backoff import Backoff
from rebellion.testing import ManualClock

URL = "http://alerts.test/hook"


class Receiver:
    """A scripted mock receiver: ``down`` answers fail; every request is recorded."""

    def __init__(self, down: int = 0, failure: str = "503") -> None:
        self.down = down
        self.failure = failure
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append((request.headers["Idempotency-Key"], body))
        if self.down > 0:
            self.down -= 1
            if self.failure == "connect":
                raise httpx.ConnectError("refused", request=request)
            return httpx.Response(503)
        return httpx.Response(200)

    def unique(self) -> list[str]:
        seen: list[str] = []
        for key, _ in self.calls:
            if key not in seen:
                seen.append(key)
        return seen


def setup(
    tmp_path: Path, receiver: Receiver, **kwargs: Any
) -> tuple[AlertManager, PersistentRequestQueue, WebhookNotifier, ManualClock]:
    clock = ManualClock()
    backoff = Backoff(initial_delay=1.0, max_delay=1.0, jitter="none")
    queue = PersistentRequestQueue(tmp_path / "q.db", clock=clock, retry_backoff=backoff)
    kwargs.setdefault("breaker", CircuitBreaker(name="hook", failure_threshold=100, clock=clock))
    notifier = WebhookNotifier(URL, queue=queue, transport=httpx.MockTransport(receiver), **kwargs)
    manager = AlertManager(
        rules=[ThresholdRule("hot", "temp", above=80, clear=70, repeat_interval=10)],
        group_by=["alertname"],
        callbacks=[notifier],
        clock=clock,
    )
    return manager, queue, notifier, clock


async def drain(queue: PersistentRequestQueue, clock: ManualClock, rounds: int = 10) -> None:
    for _ in range(rounds):
        await queue.process_available()
        clock.advance(1.0)


async def test_posts_an_alertmanager_body_with_the_idempotency_key(tmp_path: Path) -> None:
    receiver = Receiver()
    manager, queue, notifier, clock = setup(tmp_path, receiver, headers={"X-Team": "ops"})
    notes: list[Notification] = []
    manager.add_callback(notes.append)
    manager.observe("temp", 90.0, {"host": "a"})
    await manager.wait_for_callbacks()
    await drain(queue, clock, 1)
    [(key, body)] = receiver.calls
    assert key == notes[0].idempotency_key == body["idempotencyKey"]
    assert body["status"] == "firing"
    assert body["version"] == "4"
    assert body["groupLabels"] == {"alertname": "hot"}
    assert body["alerts"][0]["labels"]["host"] == "a"
    assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert notifier.stats()["posted"] == 1
    assert queue.stats()["done"] == 1
    await notifier.aclose()
    queue.close()


async def test_failures_are_retried_and_each_group_is_delivered_in_order(tmp_path: Path) -> None:
    receiver = Receiver(down=5, failure="connect")
    manager, queue, notifier, clock = setup(tmp_path, receiver)
    manager.observe("temp", 90.0, {"host": "a"})
    manager.observe("temp", 90.0, {"host": "b"})
    manager.observe("temp", 10.0, {"host": "a"})
    manager.observe("temp", 10.0, {"host": "b"})
    await manager.wait_for_callbacks()
    await drain(queue, clock)
    keys = receiver.unique()
    assert [k.rsplit(".", 1)[1] for k in keys] == ["1", "2", "3", "4"]
    assert [k.split(":")[1] for k in keys] == ["firing", "firing", "firing", "resolved"]
    stats = notifier.stats()
    assert stats["posted"] == 4
    assert stats["post_failures"] == 5
    assert stats["undelivered"] == 0
    # Once delivered, a key is never posted again (later requests skip it).
    posted_after_recovery = [k for k, _ in receiver.calls[5:]]
    assert posted_after_recovery == keys[len(keys) - len(posted_after_recovery) :]
    assert queue.stats()["done"] == 4
    await notifier.aclose()
    queue.close()


async def test_non_2xx_raises_so_the_queue_retries(tmp_path: Path) -> None:
    receiver = Receiver(down=1)
    manager, queue, notifier, clock = setup(tmp_path, receiver)
    manager.observe("temp", 90.0)
    await manager.wait_for_callbacks()
    await queue.process_available()
    assert queue.stats()["retried"] == 1
    clock.advance(1.0)
    await queue.process_available()
    assert next(k for k, _ in receiver.calls) == receiver.calls[1][0]
    assert notifier.stats()["last_status"] == 200
    await notifier.aclose()
    queue.close()


async def test_open_breaker_stops_posting_until_it_half_opens(tmp_path: Path) -> None:
    receiver = Receiver(down=2)
    manager, queue, notifier, clock = setup(tmp_path, receiver, breaker=None)
    breaker = CircuitBreaker(name="hook2", failure_threshold=2, reset_timeout=5, clock=clock)
    notifier.breaker = breaker
    manager.observe("temp", 90.0)
    await manager.wait_for_callbacks()
    await drain(queue, clock, 4)  # two failures open it; the next attempts are rejected
    assert breaker.state == CircuitBreaker.OPEN
    assert len(receiver.calls) == 2
    await drain(queue, clock, 4)
    assert breaker.state == CircuitBreaker.CLOSED
    assert len(receiver.calls) == 3
    assert notifier.stats()["posted"] == 1
    await notifier.aclose()
    queue.close()


async def test_duplicate_enqueue_of_one_notification_is_stored_once(tmp_path: Path) -> None:
    receiver = Receiver()
    manager, queue, notifier, clock = setup(tmp_path, receiver)
    notes: list[Notification] = []
    manager.add_callback(notes.append)
    manager.observe("temp", 90.0)
    await manager.wait_for_callbacks()
    await notifier(notes[0])  # the same notification again: the queue keeps one request
    await drain(queue, clock, 2)
    assert receiver.unique() == [notes[0].idempotency_key]
    assert len(receiver.calls) == 1
    await notifier.aclose()
    queue.close()


def test_webhook_delivery_error_names_the_status() -> None:
    error = WebhookDeliveryError(URL, 503)
    assert "503" in str(error)
    assert error.status == 503


def test_httpx_is_imported_only_on_delivery() -> None:
    code = (
        "import sys, rebellion.metrics.alerting, rebellion.metrics.alerting.webhook;"
        "print('httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"url": "ftp://x"}, "url"),
        ({"url": "http://"}, "url"),
        ({"url": 3}, "url"),
        ({"queue": object()}, "queue"),
        ({"breaker": "cb"}, "breaker"),
        ({"name": ""}, "name"),
        ({"timeout": 0}, "timeout"),
        ({"headers": {"X": 1}}, "headers"),
        ({"headers": ["X"]}, "headers"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_backlog": 0}, "max_backlog"),
        ({"priority": 1.5}, "priority"),
    ],
)
def test_notifier_rejects_bad_parameters(
    tmp_path: Path, kwargs: dict[str, Any], parameter: str
) -> None:
    queue = PersistentRequestQueue(tmp_path / "q.db", clock=ManualClock())
    params: dict[str, Any] = {"url": URL, "queue": queue, **kwargs}
    with pytest.raises(ConfigError) as caught:
        WebhookNotifier(**params)
    assert caught.value.parameter == parameter
    queue.close()


# -- end to end: a real receiver that is down for a while ---------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def waiting(queue: PersistentRequestQueue) -> int:
    stats = queue.stats()
    count: int = stats["pending"] + stats["delayed"] + stats["leased"]
    return count


class HttpReceiver:
    """A tiny asyncio HTTP/1.1 server that records POSTs and dedups by idempotency key."""

    def __init__(self) -> None:
        self.posts = 0
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self._seen: set[str] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {
                    k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
                }
                body = json.loads(await reader.readexactly(int(headers["content-length"])))
                self.posts += 1
                key = headers["idempotency-key"]
                if key not in self._seen:
                    self._seen.add(key)
                    self.accepted.append((key, body))
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()


@pytest.mark.e2e
async def test_receiver_down_then_back_gets_every_alert_in_order_once(tmp_path: Path) -> None:
    port = free_port()
    receiver = HttpReceiver()
    backoff = Backoff(initial_delay=0.05, max_delay=0.2, backoff_factor=2.0, jitter="full")
    queue = PersistentRequestQueue(tmp_path / "q.db", retry_backoff=backoff, poll_interval=0.05)
    breaker = CircuitBreaker(name="e2e-hook", failure_threshold=3, reset_timeout=0.2)
    notifier = WebhookNotifier(
        f"http://127.0.0.1:{port}/alerts", queue=queue, breaker=breaker, timeout=1.0
    )
    clock = ManualClock()  # alert timing is virtual; delivery runs in real time
    manager = AlertManager(
        rules=[ThresholdRule("hot", "temp", above=80, clear=70, repeat_interval=5)],
        group_by=["host"],
        callbacks=[notifier],
        clock=clock,
    )
    worker = asyncio.create_task(queue.process_queue(concurrency=3))
    hosts = ["a", "b", "c"]
    expected: dict[str, list[str]] = {h: [] for h in hosts}
    record: list[Notification] = []
    manager.add_callback(record.append)
    for step in range(4):  # fire+repeat, repeat, resolve, fire+repeat: 6 per host
        for host in hosts:
            value = 10.0 if step == 2 else 90.0
            manager.observe("temp", value, {"host": host})
        clock.advance(5)
        manager.evaluate()
        await asyncio.sleep(0.05)
    for note in record:
        expected[note.group_labels["host"]].append(note.idempotency_key)
    assert all(len(keys) == 6 for keys in expected.values())
    await manager.wait_for_callbacks()
    await asyncio.sleep(0.5)  # the receiver is down: deliveries fail and back off
    assert receiver.posts == 0
    assert notifier.stats()["post_failures"] > 0
    await receiver.start(port)
    deadline = time.monotonic() + 8.0
    total = sum(len(v) for v in expected.values())
    # Wait for every alert, then for the queue to empty: a request whose notifications
    # an earlier request of its group already delivered still has to run (and skip).
    while time.monotonic() < deadline and (len(receiver.accepted) < total or waiting(queue) > 0):
        await asyncio.sleep(0.05)
    await queue.stop()
    await worker
    await notifier.aclose()
    await receiver.stop()
    stats = queue.stats()
    dead = queue.dead_letters()
    queue.close()
    got: dict[str, list[str]] = {h: [] for h in hosts}
    for key, body in receiver.accepted:
        got[body["groupLabels"]["host"]].append(key)
    assert got == expected  # every alert, once per key, in order per group
    assert stats["pending"] + stats["delayed"] + stats["leased"] == 0
    assert dead == []
    assert receiver.posts >= len(receiver.accepted)
