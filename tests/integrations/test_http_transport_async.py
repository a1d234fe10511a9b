"""AsyncResilientTransport against a real local HTTP server that fails on command."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from _redis import free_port
from conftest import pool_is_idle
from integrations._fault_server import FaultServer
from rebellion.integrations import AsyncResilientTransport, RequestRejectedError
from rebellion.testing import ManualClock


def client_for(**settings: object) -> tuple[httpx.AsyncClient, httpx.AsyncHTTPTransport]:
    inner = httpx.AsyncHTTPTransport()
    settings.setdefault("clock", ManualClock())
    transport = AsyncResilientTransport(inner, **settings)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, timeout=5.0), inner


async def test_retries_server_errors_and_drops(server: FaultServer) -> None:
    server.plan(500, "drop", (429, {"Retry-After": "1"}))
    client, inner = client_for(max_attempts=4)
    async with client:
        response = await client.get(server.url + "/a")
        assert (response.status_code, response.text) == (200, "200 GET /a 0")
        assert pool_is_idle(inner)
    assert server.hits == 4


async def test_a_persistent_failure_is_returned_and_the_pool_stays_clean(
    server: FaultServer,
) -> None:
    server.default = 502
    client, inner = client_for(max_attempts=2)
    async with client:
        response = await client.get(server.url + "/x")
        assert (response.status_code, response.text) == (502, "502 GET /x 0")
        assert pool_is_idle(inner)


async def test_streaming_a_persistent_failure_still_yields_its_body(server: FaultServer) -> None:
    server.default = 503
    client, _ = client_for(max_attempts=2)
    async with client, client.stream("GET", server.url + "/s") as response:
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert body == b"503 GET /s 0"


async def test_raise_on_exhausted_raises(server: FaultServer) -> None:
    server.default = 504
    client, _ = client_for(max_attempts=1, raise_on_exhausted=True)
    async with client:
        with pytest.raises(httpx.HTTPStatusError) as caught:
            await client.get(server.url)
    assert caught.value.response.status_code == 504


async def test_a_server_that_is_down_raises_connect_error() -> None:
    client, _ = client_for(max_attempts=2)
    async with client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{free_port()}/")


async def test_the_breaker_opens_and_rejects_without_sending(server: FaultServer) -> None:
    server.default = 500
    client, _ = client_for(max_attempts=1, failure_threshold=1)
    async with client:
        assert (await client.delete(server.url)).status_code == 500
        with pytest.raises(RequestRejectedError):
            await client.get(server.url)
    assert server.hits == 1


async def test_post_is_sent_once(server: FaultServer) -> None:
    server.plan(503)
    client, _ = client_for()
    async with client:
        assert (await client.post(server.url, json={"a": 1})).status_code == 503
    assert server.hits == 1


@pytest.mark.e2e
async def test_a_hanging_server_times_out(server: FaultServer) -> None:
    server.default = "hang"
    transport = AsyncResilientTransport(max_attempts=2, initial_delay=0)
    async with httpx.AsyncClient(transport=transport, timeout=0.15) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url)
    assert time.monotonic() - started < 9.0  # a hang holds each request for 10 s
    assert server.hits == 2


@pytest.mark.e2e
async def test_hedging_cancels_the_slow_attempt(server: FaultServer) -> None:
    server.plan(("delay", 30, 200))  # the first attempt would answer after 30 s
    inner = httpx.AsyncHTTPTransport()
    transport = AsyncResilientTransport(inner, hedge_delay=0.05)
    async with httpx.AsyncClient(transport=transport) as client:
        started = time.monotonic()
        response = await client.get(server.url)
        assert time.monotonic() - started < 20  # so the hedge answered
        assert response.status_code == 200
        assert pool_is_idle(inner)
    assert server.hits == 2


async def test_many_tasks_retry_concurrently(server: FaultServer) -> None:
    server.plan(*([503] * 20))
    # Enough attempts to absorb all twenty 503s, however the tasks interleave.
    client, inner = client_for(max_attempts=21, failure_threshold=100)
    async with client:
        responses = await asyncio.gather(*(client.get(server.url) for _ in range(40)))
        assert [r.status_code for r in responses] == [200] * 40
        assert pool_is_idle(inner)
    assert server.hits == 60
