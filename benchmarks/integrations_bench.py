"""Overhead of the integrations per request, measured against bare equivalents in one run.

* transport: ``httpx.Client`` over ``ResilientTransport(HTTPTransport())`` versus over a
  bare ``HTTPTransport()``, against the same local uvicorn server;
* middleware: a Starlette app behind ``ResilienceMiddleware`` (adaptive limiter, bulkhead,
  timeout) versus the bare app, both served by one uvicorn process on two paths.

The server runs in a child process (so they do not share the client's GIL); rounds alternate
between the contenders so drift hits both alike. Prints p50/p99 per contender and the
p50 ratio. Targets: <= 1.05 for both.

    .venv/bin/python benchmarks/integrations_bench.py [--smoke] [--rounds N] [--requests N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET = 1.05


def build_app() -> Any:
    """One server, two paths: ``/bare/hello`` and ``/guarded/hello`` (behind the middleware)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from rebellion import AdaptiveLimiter, Bulkhead
    from rebellion.integrations import ResilienceMiddleware

    async def hello(request: Request) -> Response:
        return PlainTextResponse("hello")

    bare = Starlette(routes=[Route("/bare/hello", hello)])
    guarded = ResilienceMiddleware(
        Starlette(routes=[Route("/guarded/hello", hello)]),
        limiter=AdaptiveLimiter("bench", max_limit=1000),
        bulkhead=Bulkhead("bench", max_concurrent=1000),
        timeout=5.0,
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/guarded"):
            await guarded(scope, receive, send)
        else:
            await bare(scope, receive, send)

    return app


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(build_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", str(port)]
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, base
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start")


def timed(client: Any, url: str, n: int) -> list[float]:
    samples = []
    perf = time.perf_counter
    for _ in range(n):
        started = perf()
        client.get(url)
        samples.append(perf() - started)
    return samples


def compare(
    contenders: dict[str, Callable[[int], list[float]]], rounds: int, requests: int
) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for run in contenders.values():
        run(max(10, requests // 10))  # warm-up: connections, code paths
    for index in range(rounds):
        order = list(contenders.items())
        if index % 2:
            order.reverse()
        for name, run in order:
            results[name].extend(run(requests))
    return results


def report(title: str, results: dict[str, list[float]], bare: str, ours: str) -> float:
    print(f"\n{title}")
    for name, samples in results.items():
        q = statistics.quantiles(samples, n=100)
        print(
            f"  {name:<28} p50 {q[49] * 1e6:8.1f} us   p99 {q[98] * 1e6:8.1f} us   n={len(samples)}"
        )
    ratio = statistics.median(results[ours]) / statistics.median(results[bare])
    verdict = "meets" if ratio <= TARGET else "misses"
    print(f"  p50 ratio {ours}/{bare}: {ratio:.3f} ({verdict} target <= {TARGET})")
    return ratio


def in_process(requests: int) -> None:
    """Print each integration's own cost per request, with no network in the way."""
    import asyncio

    import httpx

    from rebellion.integrations import ResilientTransport

    mock = httpx.MockTransport(lambda request: httpx.Response(200, content=b"hello"))
    request = httpx.Request("GET", "http://bench.local/hello")
    ours = ResilientTransport(mock)

    def per_call(fn: Callable[[], object]) -> float:
        for _ in range(requests // 10):
            fn()
        started = time.perf_counter()
        for _ in range(requests):
            fn()
        return (time.perf_counter() - started) / requests * 1e6

    bare_us = per_call(lambda: mock.handle_request(request))
    ours_us = per_call(lambda: ours.handle_request(request))
    print("\nin process (no network)")
    print(
        f"  transport: MockTransport {bare_us:.2f} us, wrapped {ours_us:.2f} us "
        f"(+{ours_us - bare_us:.2f} us)"
    )

    app = build_app()
    sent: list[object] = []

    async def send(message: object) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    def scope(path: str) -> dict[str, object]:
        return {
            "type": "http",
            "path": path,
            "method": "GET",
            "headers": [],
            "query_string": b"",
            "root_path": "",
            "scheme": "http",
            "server": ("127.0.0.1", 80),
            "client": ("127.0.0.1", 1),
            "http_version": "1.1",
        }

    async def per_request(path: str) -> float:
        for _ in range(requests // 10):
            await app(scope(path), receive, send)
        started = time.perf_counter()
        for _ in range(requests):
            await app(scope(path), receive, send)
        return (time.perf_counter() - started) / requests * 1e6

    bare_app = asyncio.run(per_request("/bare/hello"))
    guarded_app = asyncio.run(per_request("/guarded/hello"))
    print(
        f"  middleware: bare app {bare_app:.2f} us, guarded {guarded_app:.2f} us "
        f"(+{guarded_app - bare_app:.2f} us)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run for tests")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    rounds, requests = (2, 30) if args.smoke else (args.rounds, args.requests)

    import httpx

    from rebellion.integrations import ResilientTransport

    server, base = start_server()
    bare_url, guarded_url = base + "/bare/hello", base + "/guarded/hello"
    try:
        bare = httpx.Client(transport=httpx.HTTPTransport())
        resilient = httpx.Client(transport=ResilientTransport(httpx.HTTPTransport()))
        with bare, resilient:
            transport = compare(
                {
                    "bare HTTPTransport": lambda n: timed(bare, bare_url, n),
                    "ResilientTransport": lambda n: timed(resilient, bare_url, n),
                },
                rounds,
                requests,
            )
            middleware = compare(
                {
                    "bare Starlette app": lambda n: timed(bare, bare_url, n),
                    "with ResilienceMiddleware": lambda n: timed(bare, guarded_url, n),
                },
                rounds,
                requests,
            )
    finally:
        server.terminate()
        server.wait(10)
    print(f"integrations overhead ({rounds} interleaved rounds x {requests} requests)")
    report(
        "httpx transport (GET, 200, keep-alive)",
        transport,
        "bare HTTPTransport",
        "ResilientTransport",
    )
    report(
        "ASGI middleware (GET, 200, uvicorn)",
        middleware,
        "bare Starlette app",
        "with ResilienceMiddleware",
    )
    in_process(2000 if args.smoke else 20000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
