"""ResilientTransport against a real local HTTP server that fails on command."""

from __future__ import annotations

import email.utils
import threading
import time

import httpx
import pytest

from _redis import free_port
from conftest import pool_is_idle
from integrations._fault_server import FaultServer
from rebellion import CircuitBreaker, Pipeline, RejectedError, Retry, registry
from rebellion.integrations import RequestRejectedError, ResilientTransport
from rebellion.testing import ManualClock


def client_for(
    inner: httpx.HTTPTransport | None = None, **settings: object
) -> tuple[httpx.Client, httpx.HTTPTransport, ManualClock]:
    clock = ManualClock()
    inner = inner or httpx.HTTPTransport()
    settings.setdefault("clock", clock)
    transport = ResilientTransport(inner, **settings)  # type: ignore[arg-type]
    return httpx.Client(transport=transport, timeout=5.0), inner, clock


def test_retries_a_server_error_and_returns_the_success(server: FaultServer) -> None:
    server.plan(503, 502)
    client, inner, _ = client_for()
    with client:
        response = client.get(server.url + "/items")
        assert (response.status_code, response.text) == (200, "200 GET /items 0")
        assert server.hits == 3
        assert pool_is_idle(inner)


def test_honours_retry_after_in_seconds(server: FaultServer) -> None:
    server.plan((429, {"Retry-After": "3"}))
    client, _, clock = client_for()
    with client:
        assert client.get(server.url).status_code == 200
    assert clock.sleeps == [3.0]


def test_honours_retry_after_as_an_http_date(server: FaultServer) -> None:
    when = email.utils.formatdate(time.time() + 4, usegmt=True)
    server.plan((503, {"Retry-After": when}))
    client, _, clock = client_for()
    with client:
        assert client.get(server.url).status_code == 200
    assert len(clock.sleeps) == 1
    assert 2.0 <= clock.sleeps[0] <= 4.0


def test_a_retry_after_longer_than_max_delay_returns_the_response_at_once(
    server: FaultServer,
) -> None:
    server.plan((429, {"Retry-After": "600"}))
    client, _, clock = client_for(max_delay=5.0)
    with client:
        response = client.get(server.url)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "600"
    assert server.hits == 1
    assert clock.sleeps == []


def test_a_persistent_failure_status_is_returned_with_its_body(server: FaultServer) -> None:
    server.default = (503, {"X-Reason": "maintenance"})
    client, inner, _ = client_for(max_attempts=3)
    with client:
        response = client.get(server.url + "/down")
        assert response.status_code == 503
        assert response.headers["X-Reason"] == "maintenance"
        assert response.text == "503 GET /down 0"
        assert response.elapsed.total_seconds() >= 0
        assert server.hits == 3
        assert pool_is_idle(inner)


def test_raise_on_exhausted_raises_http_status_error_carrying_the_response(
    server: FaultServer,
) -> None:
    server.default = 500
    client, _, _ = client_for(max_attempts=2, raise_on_exhausted=True)
    with client, pytest.raises(httpx.HTTPStatusError) as caught:
        client.get(server.url + "/boom")
    response = caught.value.response
    assert response.status_code == 500
    assert response.read() == b"500 GET /boom 0"
    assert "after 2 attempt(s)" in str(caught.value)


def test_client_errors_are_returned_without_retrying(server: FaultServer) -> None:
    server.plan(404)
    client, _, _ = client_for()
    with client:
        assert client.get(server.url).status_code == 404
    assert server.hits == 1


def test_non_idempotent_methods_are_not_retried(server: FaultServer) -> None:
    server.plan(503)
    client, _, _ = client_for()
    with client:
        response = client.post(server.url + "/orders", content=b"{}")
    assert response.status_code == 503
    assert server.hits == 1


def test_retry_methods_opts_post_in(server: FaultServer) -> None:
    server.plan(503)
    client, _, _ = client_for(retry_methods={"get", "post"})
    with client:
        response = client.post(server.url + "/orders", content=b"abc")
    assert (response.status_code, response.text) == (200, "200 POST /orders 3")
    assert server.hits == 2


def test_a_one_shot_request_body_is_not_retried(server: FaultServer) -> None:
    server.plan(503)
    client, _, _ = client_for()

    def body() -> object:
        yield b"chunk"

    with client:
        response = client.put(server.url, content=body())  # type: ignore[arg-type]
    assert response.status_code == 503
    assert server.hits == 1


def test_a_dropped_connection_is_retried(server: FaultServer) -> None:
    server.plan("drop")
    client, inner, _ = client_for()
    with client:
        assert client.get(server.url).status_code == 200
        assert pool_is_idle(inner)
    assert server.hits == 2


def test_a_reset_connection_is_retried(server: FaultServer) -> None:
    server.plan("reset", "reset")
    client, _, _ = client_for()
    with client:
        assert client.get(server.url).status_code == 200
    assert server.hits == 3


def test_a_dropped_post_raises_the_httpx_error(server: FaultServer) -> None:
    server.plan("drop")
    client, _, _ = client_for()
    with client, pytest.raises(httpx.RemoteProtocolError):
        client.post(server.url, content=b"x")
    assert server.hits == 1


def test_a_server_that_is_down_raises_connect_error_after_every_attempt() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    client, _, clock = client_for(max_attempts=3, failure_threshold=10)
    with client, pytest.raises(httpx.ConnectError) as caught:
        client.get(url)
    assert len(clock.sleeps) == 2
    assert any("gave up after 3 attempt(s)" in note for note in caught.value.__notes__)


@pytest.mark.e2e
def test_a_hanging_server_times_out(server: FaultServer) -> None:
    server.plan("hang", "hang")
    transport = ResilientTransport(max_attempts=2, initial_delay=0)
    with httpx.Client(transport=transport, timeout=0.15) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.get(server.url)
    assert time.monotonic() - started < 9.0  # a hang holds each request for 10 s
    assert server.hits == 2


def test_the_breaker_of_a_host_opens_and_other_hosts_are_unaffected(
    server: FaultServer, other_server: FaultServer
) -> None:
    server.default = 503
    client, _, _ = client_for(max_attempts=1, failure_threshold=2, reset_timeout=30)
    with client:
        assert client.get(server.url).status_code == 503
        assert client.get(server.url).status_code == 503
        with pytest.raises(RequestRejectedError) as caught:
            client.get(server.url)
        assert client.get(other_server.url).status_code == 200
    rejected = caught.value
    assert isinstance(rejected, httpx.TransportError)
    assert isinstance(rejected, RejectedError)
    assert rejected.retry_after == pytest.approx(30)
    assert server.hits == 2
    host = server.url.removeprefix("http://")
    names = {(e["kind"], e["name"]) for e in registry.snapshot()}
    assert ("circuit_breaker", f"http:{host}") in names
    assert ("http_transport", "http") in names


def test_rate_limits_do_not_open_the_breaker(server: FaultServer) -> None:
    server.default = (429, {"Retry-After": "0"})
    client, _, _ = client_for(max_attempts=1, failure_threshold=1)
    with client:
        for _ in range(3):
            assert client.get(server.url).status_code == 429
    assert server.hits == 3


def test_a_post_shares_the_breaker_of_its_host(server: FaultServer) -> None:
    server.default = 500
    client, _, _ = client_for(max_attempts=3, failure_threshold=1)
    with client:
        assert client.post(server.url, content=b"").status_code == 500
        with pytest.raises(RequestRejectedError):
            client.get(server.url)
    assert server.hits == 1


def test_route_patterns_get_their_own_pipeline(server: FaultServer) -> None:
    made: list[str] = []

    def slow_route(key: str) -> Pipeline:
        made.append(key)
        return Pipeline(Retry(5, initial_delay=0, name="slow-retry"), name="slow")

    server.plan(503, 503, 503, 503)
    client, _, _ = client_for(routes={"*/reports/*": slow_route}, max_attempts=1)
    with client:
        assert client.get(server.url + "/reports/1").status_code == 200
        assert client.get(server.url + "/reports/2").status_code == 200
        assert client.get(server.url + "/other").status_code == 200
    assert made == ["*/reports/*"]
    routes = client._transport.stats()["routes"]  # type: ignore[attr-defined]
    assert routes["*/reports/*"] == "slow"


def test_a_policy_factory_replaces_the_default_pipeline(server: FaultServer) -> None:
    server.plan(503)
    breakers: list[CircuitBreaker] = []

    def factory(key: str) -> CircuitBreaker:
        breakers.append(CircuitBreaker(f"custom:{key}", failure_threshold=1))
        return breakers[-1]

    with httpx.Client(transport=ResilientTransport(policy_factory=factory)) as client:
        assert client.get(server.url).status_code == 503  # no retry in this policy
        with pytest.raises(RequestRejectedError):
            client.get(server.url)
    assert len(breakers) == 1


def test_max_hosts_drops_the_oldest_route(server: FaultServer, other_server: FaultServer) -> None:
    client, _, _ = client_for(max_hosts=1)
    with client:
        client.get(server.url)
        client.get(other_server.url)
        routes = client._transport.stats()["routes"]  # type: ignore[attr-defined]
    assert list(routes) == [other_server.url.removeprefix("http://")]


@pytest.mark.e2e
def test_hedging_answers_from_the_fast_attempt_and_closes_the_loser(server: FaultServer) -> None:
    server.plan(("delay", 30, 200))  # the first attempt would answer after 30 s
    inner = httpx.HTTPTransport()
    transport = ResilientTransport(inner, hedge_delay=0.05)
    with httpx.Client(transport=transport) as client:
        started = time.monotonic()
        response = client.get(server.url + "/h")
        assert time.monotonic() - started < 20  # so the hedge answered
        assert response.status_code == 200
        server.stopping.set()  # let the held first attempt end (without an answer)
        deadline = time.monotonic() + 30
        while not pool_is_idle(inner) and time.monotonic() < deadline:
            time.sleep(0.02)  # the losing attempt cannot be interrupted: it finishes
        assert pool_is_idle(inner)
    assert server.hits == 2


def test_many_threads_share_one_route(server: FaultServer) -> None:
    made: list[str] = []

    def factory(key: str) -> Retry:
        made.append(key)
        # Enough attempts to absorb all ten 503s, however the threads interleave.
        return Retry(11, initial_delay=0, name=f"r:{key}")

    server.plan(*([503] * 10))
    transport = ResilientTransport(policy_factory=factory)
    statuses: list[int] = []
    lock = threading.Lock()
    with httpx.Client(transport=transport) as client:

        def worker() -> None:
            for _ in range(5):
                status = client.get(server.url).status_code
                with lock:
                    statuses.append(status)

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert statuses == [200] * 80
    assert len(made) == 1
    assert server.hits == 90
