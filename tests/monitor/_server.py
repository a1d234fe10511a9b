"""A real uvicorn server on a free loopback port, run in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from _redis import free_port

__all__ = ["running"]


@contextmanager
def running(
    app: Any, *, host: str = "127.0.0.1", port: int | None = None, **config: Any
) -> Iterator[str]:
    """Serve ``app`` on ``port`` (default: a free one) until the block ends; yield its URL."""
    port = free_port() if port is None else port
    config.setdefault("log_level", "warning")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, lifespan="on", **config))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    deadline = time.monotonic() + 60  # generous: a busy machine starts slowly
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        assert not thread.is_alive(), "uvicorn did not stop"


def wait_ready(base: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> None:
    """Wait until ``/readyz`` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(base + "/readyz", headers=headers).status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError("monitor never became ready")
