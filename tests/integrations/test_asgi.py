"""ResilienceMiddleware in process (httpx.ASGITransport) under virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from rebellion import AdaptiveLimiter, AIMDLimit, Bulkhead, CircuitBreaker, ConfigError
from rebellion.integrations import ResilienceMiddleware
from rebellion.testing import ManualClock


def make_app(gate: asyncio.Event | None = None) -> Starlette:
    async def slow(request: Request) -> Response:
        if gate is not None:
            await gate.wait()
        return PlainTextResponse("done")

    async def fast(request: Request) -> Response:
        return PlainTextResponse("fast")

    async def busy(request: Request) -> Response:
        return PlainTextResponse("busy", status_code=503)

    async def broken(request: Request) -> Response:
        raise RuntimeError("bug")

    async def health(request: Request) -> Response:
        return PlainTextResponse("alive")

    return Starlette(
        routes=[
            Route("/slow", slow),
            Route("/fast", fast),
            Route("/busy", busy),
            Route("/broken", broken),
            Route("/healthz", health),
            Route("/api/checkout", fast),
        ]
    )


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    )


async def test_sheds_with_503_and_retry_after_when_the_bulkhead_is_full() -> None:
    gate = asyncio.Event()
    bulkhead = Bulkhead("api", max_concurrent=1)
    guarded = ResilienceMiddleware(make_app(gate), bulkhead=bulkhead, retry_after=2.5)
    async with client(guarded) as http:
        held = asyncio.ensure_future(http.get("/slow"))
        while bulkhead.stats()["active"] == 0:
            await asyncio.sleep(0)
        shed = await http.get("/fast")
        health = await http.get("/healthz")
        gate.set()
        assert (await held).text == "done"
        after = await http.get("/fast")
    assert shed.status_code == 503
    assert shed.headers["retry-after"] == "3"
    assert shed.json() == {"error": "overloaded", "policy": "api", "retry_after": 2.5}
    assert health.status_code == 200
    assert after.status_code == 200
    assert guarded.stats()["shed"] == 1
    assert bulkhead.stats()["active"] == 0


async def test_limiter_permits_are_released_with_the_outcome() -> None:
    limiter = AdaptiveLimiter("svc", algorithm=AIMDLimit(initial_limit=5))
    guarded = ResilienceMiddleware(make_app(), limiter=limiter)
    async with client(guarded) as http:
        assert (await http.get("/fast")).status_code == 200
        assert (await http.get("/busy")).status_code == 503
        assert (await http.get("/broken")).status_code == 500
    stats = limiter.stats()
    assert (stats["succeeded"], stats["dropped"], stats["failed"]) == (1, 1, 1)
    assert stats["inflight"] == 0


async def test_an_exhausted_limiter_sheds_and_the_app_never_runs() -> None:
    limiter = AdaptiveLimiter("svc", algorithm=AIMDLimit(initial_limit=1, min_limit=1))
    gate = asyncio.Event()
    guarded = ResilienceMiddleware(make_app(gate), limiter=limiter)
    async with client(guarded) as http:
        held = asyncio.ensure_future(http.get("/slow"))
        while limiter.inflight == 0:
            await asyncio.sleep(0)
        shed = await http.get("/fast")
        gate.set()
        await held
    assert shed.status_code == 503
    assert shed.json()["policy"] == "svc"
    assert int(shed.headers["retry-after"]) >= 1


async def test_paths_map_to_limiter_partitions() -> None:
    limiter = AdaptiveLimiter(
        "svc", algorithm=AIMDLimit(initial_limit=10), partitions={"critical": 50}
    )
    guarded = ResilienceMiddleware(
        make_app(), limiter=limiter, partitions={"/api/checkout*": "critical"}
    )
    async with client(guarded) as http:
        await http.get("/api/checkout")
        await http.get("/fast")
    assert limiter.stats()["partitions"]["critical"]["admitted"] == 1


async def test_a_request_that_outlives_the_timeout_gets_504() -> None:
    clock = ManualClock(auto_advance=False)
    limiter = AdaptiveLimiter("svc", algorithm=AIMDLimit(initial_limit=5))
    guarded = ResilienceMiddleware(
        make_app(asyncio.Event()), limiter=limiter, timeout=2.0, clock=clock
    )
    async with client(guarded) as http:
        pending = asyncio.ensure_future(http.get("/slow"))
        while limiter.inflight == 0:
            await asyncio.sleep(0)
        clock.advance(1.9)
        await asyncio.sleep(0)
        assert not pending.done()
        clock.advance(0.2)
        response = await pending
        fast = await http.get("/fast")
    assert response.status_code == 504
    assert response.json()["error"] == "timeout"
    assert fast.status_code == 200
    assert guarded.stats()["timed_out"] == 1
    assert limiter.stats()["dropped"] == 1


async def test_the_snapshot_route_lists_every_primitive_as_json() -> None:
    breaker = CircuitBreaker("payments", failure_threshold=3)  # the census is weak: keep it
    guarded = ResilienceMiddleware(make_app(), snapshot_path="/_resilience")
    async with client(guarded) as http:
        listing = (await http.get("/_resilience")).json()
    names = {(entry["kind"], entry["name"]) for entry in listing}
    assert ("circuit_breaker", "payments") in names
    assert ("asgi_middleware", "asgi") in names
    assert breaker.state == "CLOSED"


async def test_lifespan_and_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    guarded = ResilienceMiddleware(app, bulkhead=Bulkhead("b", max_concurrent=1), timeout=1.0)
    await guarded({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    await guarded({"type": "websocket", "path": "/ws"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan", "websocket"]


async def test_many_concurrent_requests_keep_the_accounting_exact() -> None:
    bulkhead = Bulkhead("api", max_concurrent=4, max_queue=100, max_wait=5)
    guarded = ResilienceMiddleware(make_app(), bulkhead=bulkhead)
    async with client(guarded) as http:
        responses = await asyncio.gather(*(http.get("/fast") for _ in range(60)))
    assert [r.status_code for r in responses] == [200] * 60
    assert bulkhead.stats()["active"] == 0


BAD: list[tuple[str, Any]] = [
    ("app", "not an app"),
    ("limiter", "limiter"),
    ("bulkhead", 3),
    ("partitions", ["/a"]),
    ("partitions", {"/a": "unknown"}),
    ("partitions", {"no-slash": "critical"}),
    ("timeout", 0),
    ("timeout", -1),
    ("exempt", "/healthz"),
    ("exempt", ["healthz"]),
    ("snapshot_path", "status"),
    ("retry_after", -1),
    ("name", ""),
    ("clock", "now"),
]


@pytest.mark.parametrize(("parameter", "value"), BAD)
def test_bad_input_names_the_parameter(parameter: str, value: Any) -> None:
    settings: dict[str, Any] = {
        "limiter": AdaptiveLimiter("svc", partitions={"critical": 50}),
        parameter: value,
    }
    app = settings.pop("app", make_app())
    with pytest.raises(ConfigError) as caught:
        ResilienceMiddleware(app, **settings)
    assert caught.value.parameter == parameter


def test_partitions_need_a_limiter() -> None:
    with pytest.raises(ConfigError, match="partitions"):
        ResilienceMiddleware(make_app(), partitions={"/a": "critical"})
