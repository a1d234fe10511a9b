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


def overloadable_app(served: list[float]) -> Starlette:
    inflight = 0

    async def work(request: Request) -> Response:
        nonlocal inflight
        inflight += 1
        started = time.perf_counter()
        try:
            await asyncio.sleep(BASE + PER_REQUEST * inflight)
        finally:
            inflight -= 1
        served.append(time.perf_counter() - started)
        return PlainTextResponse("ok")

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/work", work), Route("/healthz", health)])


async def drive(base: str, workers: int, seconds: float) -> list[int]:
    statuses: list[int] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=5.0) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                response = await client.get("/work")
                statuses.append(response.status_code)
                if response.status_code == 503:
                    await asyncio.sleep(0.005)  # a shed client backs off a little

        await asyncio.gather(*(worker() for _ in range(workers)))
    return statuses


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


@pytest.mark.e2e
def test_sheds_excess_load_keeps_latency_and_recovers() -> None:
    served: list[float] = []
    limiter = AdaptiveLimiter(
        "svc",
        algorithm=AIMDLimit(initial_limit=8, min_limit=2, max_limit=200, timeout=TARGET),
    )
    app = ResilienceMiddleware(overloadable_app(served), limiter=limiter, timeout=2.0)
    with running(app) as base:
        overload = asyncio.run(drive(base, 60, 1.5))
        under_load = list(served)
        served.clear()
        calm = asyncio.run(drive(base, 3, 0.5))
        health = httpx.get(base + "/healthz")
    shed = overload.count(503)
    # Without shedding 60 concurrent requests would take 20 + 4*60 = 260 ms each.
    assert shed > 0
    assert overload.count(200) > 100
    assert p(under_load, 50) <= TARGET * 1.25, p(under_load, 50)
    assert p(under_load, 90) <= TARGET * 2, p(under_load, 90)
    assert set(calm) == {200}, calm.count(503)
    assert p(served, 50) <= BASE + PER_REQUEST * 4
    assert health.status_code == 200
    assert limiter.stats()["inflight"] == 0
