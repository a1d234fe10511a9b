"""A real line-echo TCP server on 127.0.0.1 that tests can kill, restart and make flaky."""

from __future__ import annotations

import asyncio
import random


class EchoServer:
    """Answers ``b"x\\n"`` with ``b"echo:x\\n"``; drops ``drop_rate`` of new connections."""

    def __init__(self, drop_rate: float = 0.0, seed: int = 0) -> None:
        self.drop_rate = drop_rate
        self.rng = random.Random(seed)
        self.port = 0
        self.accepted = 0
        self.dropped = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> EchoServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def kill(self) -> None:
        """Stop listening and cut every open connection (like a crashed process)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()
        # Let every handler see its connection end, so none outlives the test's loop.
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        if self.rng.random() < self.drop_rate:
            self.dropped += 1
            writer.transport.abort()
            return
        self._writers.add(writer)
        try:
            while line := await reader.readline():
                writer.write(b"echo:" + line)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


class EchoClient:
    """One TCP connection to an :class:`EchoServer`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.lock = asyncio.Lock()  # one request at a time: pings share the connection

    @classmethod
    async def connect(cls, port: int) -> EchoClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, text: str) -> str:
        async with self.lock:
            self.writer.write(text.encode() + b"\n")
            await self.writer.drain()
            line = await self.reader.readline()
        if not line:
            raise ConnectionResetError("server closed the connection")
        return line.decode().rstrip("\n")

    async def ping(self) -> None:
        if await self.request("ping") != "echo:ping":
            raise ConnectionError("bad pong")

    def close(self) -> None:
        self.writer.transport.abort()
