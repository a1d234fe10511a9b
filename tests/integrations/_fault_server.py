"""A real HTTP/1.1 server on 127.0.0.1 that fails on command, run in a thread.

Script it with actions, consumed one per request (then ``default`` forever):

* an ``int`` status, or ``(status, {"Header": "value"})``;
* ``("delay", seconds, status)`` -- answer after a delay;
* ``"drop"`` -- close the connection without answering;
* ``"reset"`` -- reset the connection (RST) without answering;
* ``"hang"`` -- never answer (until the server stops).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FaultServer", "fault_server"]


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: deque[Any] = deque()
        self.default: Any = 200
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def plan(self, *actions: Any) -> None:
        with self.lock:
            self.script.extend(actions)

    def next_action(self, method: str, path: str) -> Any:
        with self.lock:
            self.requests.append((method, path))
            return self.script.popleft() if self.script else self.default

    @property
    def hits(self) -> int:
        with self.lock:
            return len(self.requests)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        action = self.server.next_action(self.command, self.path)
        headers: dict[str, str] = {}
        if action == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if action == "reset":
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if action == "hang":
            self.server.stopping.wait(10)
            self.close_connection = True
            return
        if isinstance(action, tuple) and action[0] == "delay":
            if self.server.stopping.wait(action[1]):
                return
            action = action[2]
        if isinstance(action, tuple):
            action, headers = action
        payload = f"{action} {self.command} {self.path} {len(body)}".encode()
        self.send_response(action)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


@contextmanager
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
