"""WebSocket fan-out: one bounded buffer per client, so a slow client only hurts itself.

:meth:`Hub.publish` serialises a message once and drops it into every matching
client's :class:`~rebellion.flow.BackpressureHandler` (strategy ``latest``: a full
buffer drops its oldest message and counts the drop). Each client has its own sender
task that drains its buffer; a client whose socket stops accepting data for
``send_timeout`` seconds, or that sends nothing for ``idle_timeout`` seconds (the
dashboard answers every heartbeat), is disconnected. Publishing never awaits a socket.

Clients may send ``{"type": "subscribe", "types": ["sample", "alert"], "metrics":
["cpu.*"]}`` to receive only some message types, and only some metrics in samples.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, final

from .._clock import Clock
from .._validate import check_clock, check_int, check_number
from ..flow import BackpressureHandler

__all__ = ["HUB_BUFFER_PREFIX", "MESSAGE_TYPES", "Hub", "Socket"]

HUB_BUFFER_PREFIX = "ws-client-"
"""Name prefix of the per-client buffers (their events are not streamed back)."""

MESSAGE_TYPES = frozenset({"sample", "alert", "event", "incident", "heartbeat"})
"""The ``type`` of every message the server sends."""


class Socket(Protocol):
    """What the hub needs from a WebSocket (Starlette's satisfies it)."""

    async def send_text(self, data: str) -> None: ...

    async def receive_text(self) -> str: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


@dataclass(eq=False, slots=True)
class _Client:
    ident: int
    socket: Socket
    buffer: BackpressureHandler[str]
    wake: asyncio.Event
    connected_at: float
    last_heard: float
    types: frozenset[str] = MESSAGE_TYPES
    metrics: tuple[str, ...] = ()
    sent: int = 0
    sending_since: float | None = None
    closed: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def wants(self, kind: str) -> bool:
        return kind in self.types


@final
class Hub:
    """Fan out JSON messages to WebSocket clients through per-client bounded buffers.

    Args:
        clock: time source for heartbeats and timeouts.
        max_queue: messages buffered per client before its oldest are dropped.
        heartbeat: seconds between heartbeat messages.
        idle_timeout: seconds without any message from a client before it is closed.
        send_timeout: seconds one send may take before the client counts as stalled.
        max_clients: connections accepted at once (1013 "try again later" beyond).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        max_queue: int = 64,
        heartbeat: float = 15.0,
        idle_timeout: float = 120.0,
        send_timeout: float = 10.0,
        max_clients: int = 1000,
    ) -> None:
        self._clock = check_clock(clock)
        self._max_queue = check_int("max_queue", max_queue, minimum=1)
        self._heartbeat = check_number("heartbeat", heartbeat, minimum=0.01)
        self._idle = check_number("idle_timeout", idle_timeout, minimum=0.01)
        self._send_timeout = check_number("send_timeout", send_timeout, minimum=0.001)
        self._max_clients = check_int("max_clients", max_clients, minimum=1)
        self._clients: dict[int, _Client] = {}
        self._ids = itertools.count(1)
        self._published = 0
        self._dropped_closed = 0
        self._disconnects: dict[str, int] = {}
        self._beat_task: asyncio.Task[None] | None = None

    @property
    def clients(self) -> int:
        """How many clients are connected."""
        return len(self._clients)

    def publish(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue ``{"type": kind, **payload}`` for every client that wants it.

        Returns:
            How many clients it was queued for.
        """
        if kind not in MESSAGE_TYPES:
            raise ValueError(f"kind must be one of {sorted(MESSAGE_TYPES)}, got {kind!r}")
        self._published += 1
        whole: str | None = None
        filtered: dict[tuple[str, ...], str] = {}
        reached = 0
        for client in self._clients.values():
            if not client.wants(kind):
                continue
            if kind == "sample" and client.metrics:
                text = filtered.get(client.metrics)
                if text is None:
                    text = _dumps(kind, _only(payload, client.metrics))
                    filtered[client.metrics] = text
            else:
                if whole is None:
                    whole = _dumps(kind, payload)
                text = whole
            client.buffer.add_item(text)
            client.wake.set()
            reached += 1
        return reached

    async def serve(self, socket: Socket) -> None:
        """Serve one accepted WebSocket until it closes; return when it has gone."""
        if len(self._clients) >= self._max_clients:
            await socket.close(1013, "too many clients")
            self._count("refused")
            return
        self._ensure_heartbeat()
        now = self._clock.monotonic()
        ident = next(self._ids)
        client = _Client(
            ident=ident,
            socket=socket,
            buffer=BackpressureHandler(
                name=f"{HUB_BUFFER_PREFIX}{ident}",
                max_buffer_size=self._max_queue,
                sampling_strategy="latest",
                adaptive_sampling=False,  # a dashboard wants every sample it can get
                clock=self._clock,
            ),
            wake=asyncio.Event(),
            connected_at=now,
            last_heard=now,
        )
        self._clients[ident] = client
        sender = asyncio.create_task(self._send_loop(client))
        watchdog = asyncio.create_task(self._idle_loop(client))
        client.tasks = [sender, watchdog]
        try:
            await self._receive_loop(client)
        finally:
            await self._drop(client, "closed")

    async def _receive_loop(self, client: _Client) -> None:
        while not client.closed:
            try:
                text = await client.socket.receive_text()
            except Exception:  # WebSocketDisconnect, ConnectionClosed, RuntimeError...
                return
            client.last_heard = self._clock.monotonic()
            self._handle(client, text)

    def _handle(self, client: _Client, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("type") != "subscribe":
            return  # pongs and unknown messages only prove the client is alive
        types = message.get("types")
        if isinstance(types, list):
            client.types = frozenset(t for t in types if t in MESSAGE_TYPES) | {"heartbeat"}
        metrics = message.get("metrics")
        if isinstance(metrics, list):
            client.metrics = tuple(str(m) for m in metrics[:64])

    async def _send_loop(self, client: _Client) -> None:
        socket, buffer, wake, clock = client.socket, client.buffer, client.wake, self._clock
        try:
            while not client.closed:
                await wake.wait()
                wake.clear()
                while batch := buffer.get_batch(max_batch_size=self._max_queue):
                    # The watchdog times sends: a per-send timeout scope would cost
                    # more than the send itself at hundreds of clients.
                    client.sending_since = clock.monotonic()
                    for text in batch:
                        await socket.send_text(text)
                        client.sent += 1
                    client.sending_since = None
        except asyncio.CancelledError:
            raise
        except Exception:
            await self._drop(client, "send_failed")

    async def _idle_loop(self, client: _Client) -> None:
        """Close the client when it has been silent too long or one send is stuck."""
        clock = self._clock
        while not client.closed:
            now = clock.monotonic()
            silent = now - client.last_heard
            if silent >= self._idle:
                await self._drop(client, "idle")
                return
            since = client.sending_since
            if since is not None and now - since >= self._send_timeout:
                await self._drop(client, "stalled")
                return
            wait = self._idle - silent
            if since is not None:
                wait = min(wait, self._send_timeout - (now - since))
            await clock.sleep_async(min(wait, self._send_timeout))

    def _ensure_heartbeat(self) -> None:
        if self._beat_task is None or self._beat_task.done():
            self._beat_task = asyncio.create_task(self._beat_loop())

    async def _beat_loop(self) -> None:
        beats = itertools.count(1)
        while self._clients:
            await self._clock.sleep_async(self._heartbeat)
            self.publish("heartbeat", {"seq": next(beats), "clients": len(self._clients)})

    async def _drop(self, client: _Client, why: str) -> None:
        if client.closed:
            return
        client.closed = True
        client.wake.set()
        self._clients.pop(client.ident, None)
        self._count(why)
        current = asyncio.current_task()
        for task in client.tasks:
            if task is not current:
                task.cancel()
        if why != "closed":
            try:
                async with asyncio.timeout(1.0):
                    await client.socket.close(1001 if why == "idle" else 1008, why)
            except Exception:
                pass

    def _count(self, why: str) -> None:
        self._disconnects[why] = self._disconnects.get(why, 0) + 1

    async def close(self) -> None:
        """Disconnect every client and stop the heartbeat."""
        for client in list(self._clients.values()):
            await self._drop(client, "shutdown")
        if self._beat_task is not None:
            self._beat_task.cancel()

    def stats(self) -> dict[str, Any]:
        """Return the hub's counters and each client's sent and dropped counts."""
        clients = []
        for client in self._clients.values():
            buffered = client.buffer.stats()
            clients.append(
                {
                    "id": client.ident,
                    "sent": client.sent,
                    "dropped": buffered["dropped"],
                    "queued": buffered["buffer_size"],
                    "types": sorted(client.types),
                }
            )
        return {
            "clients": len(self._clients),
            "published": self._published,
            "disconnects": dict(self._disconnects),
            "per_client": clients,
        }


def _dumps(kind: str, payload: dict[str, Any]) -> str:
    return json.dumps({"type": kind, **payload}, separators=(",", ":"), allow_nan=False)


def _only(payload: dict[str, Any], patterns: Iterable[str]) -> dict[str, Any]:
    keep = tuple(patterns)
    out = dict(payload)
    for key in ("values", "analysis"):
        section = payload.get(key)
        if isinstance(section, dict):
            out[key] = {
                name: value
                for name, value in section.items()
                if any(fnmatch.fnmatchcase(name, p) for p in keep)
            }
    return out
