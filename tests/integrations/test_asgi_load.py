"""Under overload a real uvicorn service keeps its latency target by shedding, then recovers."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from monitor._server import running
from rebellion import AdaptiveLimiter, AIMDLimit
from rebellion.integrations import ResilienceMiddleware

TARGET = 0.060  # seconds: the service's latency objective
BASE, PER_REQUEST = 0.020, 0.004  # handler latency climbs with concurrency: 20 ms + 4 ms each


def overloadable_app(concurrency: list[int]) -> Starlette:
    """A service whose latency is set by its concurrency; records the level each request saw.

    The verdicts below read these levels, not wall-clock latencies: on a busy machine
    every sleep overshoots, which only makes the limiter shed more, never less.
    """
    inflight = 0

    async def work(request: Request) -> Response:
        nonlocal inflight
        inflight += 1
        concurrency.append(inflight)
        try:
            await asyncio.sleep(BASE + PER_REQUEST * inflight)
        finally:
            inflight -= 1
        return PlainTextResponse("ok")

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/work", work), Route("/healthz", health)])


async def drive(base: str, workers: int, served: int) -> list[int]:
    """Send requests from ``workers`` concurrent clients until ``served`` got a 200."""
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    deadline = time.monotonic() + 120  # a safety bound only; the count ends the run
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            while statuses.count(200) < served and time.monotonic() < deadline:
                response = await client.get("/work")
                statuses.append(response.status_code)
                if response.status_code == 503:
                    await asyncio.sleep(0.005)  # a shed client backs off a little

        await asyncio.gather(*(worker() for _ in range(workers)))
    return statuses


def p(values: list[int], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def latency(level: float) -> float:
    return BASE + PER_REQUEST * level


@pytest.mark.e2e
def test_sheds_excess_load_keeps_latency_and_recovers() -> None:
    levels: list[int] = []
    limiter = AdaptiveLimiter(
        "svc",
        algorithm=AIMDLimit(initial_limit=8, min_limit=2, max_limit=200, timeout=TARGET),
    )
    app = ResilienceMiddleware(overloadable_app(levels), limiter=limiter, timeout=30.0)
    with running(app) as base:
        overload = asyncio.run(drive(base, 60, 150))
        under_load = list(levels)
        levels.clear()
        calm = asyncio.run(drive(base, 1, 20))  # one client: below any limit
        health = httpx.get(base + "/healthz")
    # Without shedding 60 concurrent requests would take 20 + 4*60 = 260 ms each.
    assert overload.count(503) > 0
    assert overload.count(200) >= 150
    assert latency(p(under_load, 50)) <= TARGET * 1.25, p(under_load, 50)
    assert latency(p(under_load, 90)) <= TARGET * 2, p(under_load, 90)
    assert max(under_load) < 60  # never all of them at once
    assert set(calm) == {200}, calm.count(503)
    assert max(levels) == 1
    assert health.status_code == 200
    assert limiter.stats()["inflight"] == 0
