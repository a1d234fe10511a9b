"""Real Redis for tests: the machine's server (namespaced keys) or a private one.

``redis_url`` points at the shared server on 127.0.0.1:6379, database ``TEST_DB``;
each test gets its own key ``namespace`` and every key under it is deleted afterwards,
so tests (and people running them at the same time) never see each other's keys.
``RedisServer`` starts a private ``redis-server`` on a free loopback port for fault
tests that stop and restart it.

When Redis is missing, tests skip locally but fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

__all__ = ["REDIS_HOST", "REDIS_PORT", "TEST_DB", "RedisServer", "free_port", "require_redis"]

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
TEST_DB = 13
"""The database number rebellion's tests use on the shared server."""


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def require_redis(host: str = REDIS_HOST, port: int = REDIS_PORT) -> None:
    """Skip the test when Redis is missing, or fail it when ``CI=true``."""
    if _answers(host, port):
        return
    message = f"no Redis server answers on {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing Redis is a failure)")
    pytest.skip(message)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def new_namespace() -> str:
    """Return a key prefix no other test uses."""
    return f"rbtest:{uuid.uuid4().hex[:12]}"


class RedisServer:
    """A private ``redis-server`` on a free loopback port that a test can stop and restart."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            require_redis("127.0.0.1", 1)  # skip locally / fail under CI
            raise AssertionError("unreachable")
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rebellion-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 5.0) -> None:
        """Start the server and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not _answers("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill the server (SIGKILL: it vanishes the way a crashed server does)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=5)
            self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
