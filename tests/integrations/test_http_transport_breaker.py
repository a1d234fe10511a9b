"""The transports' default breaker judges requests, not attempts, and refuses fast."""

from __future__ import annotations

import httpx
import pytest

from integrations._fault_server import FaultServer
from rebellion.errors import RejectedError
from rebellion.integrations import (
    AsyncResilientTransport,
    RequestRejectedError,
    ResilientTransport,
)
from rebellion.testing import ManualClock


async def test_two_failing_requests_do_not_open_the_default_breaker(server: FaultServer) -> None:
    server.default = 503
    clock = ManualClock()
    transport = AsyncResilientTransport(httpx.AsyncHTTPTransport(), clock=clock)
    key = f"127.0.0.1:{server.server_address[1]}"
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(2):
            assert (await client.get(server.url + "/x")).status_code == 503
        assert server.hits == 6  # 3 attempts each
        assert transport.stats()["circuits"] == {key: "CLOSED"}
        for _ in range(3):
            await client.get(server.url + "/x")
        assert transport.stats()["circuits"] == {key: "OPEN"}
        sleeps, hits = list(clock.sleeps), server.hits
        with pytest.raises(RequestRejectedError) as caught:
            await client.get(server.url + "/x")
    assert isinstance(caught.value, RejectedError)
    assert caught.value.retry_after == pytest.approx(30.0)
    assert clock.sleeps == sleeps  # refused at once: no backoff, no wait for retry_after
    assert server.hits == hits
    assert transport.stats()["rejected"] == 1


def test_the_sync_transport_refuses_an_open_host_at_once(server: FaultServer) -> None:
    server.default = 500
    clock = ManualClock()
    transport = ResilientTransport(
        httpx.HTTPTransport(), clock=clock, failure_threshold=1, max_attempts=3
    )
    with httpx.Client(transport=transport) as client:
        assert client.get(server.url + "/y").status_code == 500
        assert server.hits == 3
        with pytest.raises(RequestRejectedError):
            client.get(server.url + "/y")
    assert server.hits == 3
    assert list(transport.stats()["circuits"].values()) == ["OPEN"]
