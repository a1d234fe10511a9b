"""DNS rebinding: the monitor answers only known Host names, and trusts only known origins.

The e2e tests forge ``Host`` and ``Origin`` headers against a real uvicorn server, as a
page on a rebound name (``evil.example`` resolving to 127.0.0.1) would send them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from monitor._server import running, wait_ready
from rebellion.cli import main
from rebellion.errors import ConfigError
from rebellion.monitor.hosts import AllowedHosts, host_of
from rebellion.monitor.server import ServeOptions, build

TOKEN = "correct-horse-battery-staple"


def test_loopback_names_are_always_answered() -> None:
    hosts = AllowedHosts()
    for header in (
        "localhost",
        "localhost:8765",
        "LOCALHOST.:1",
        "app.localhost:80",
        "127.0.0.1",
        "127.0.0.1:8765",
        "127.8.9.10:1",
        "[::1]",
        "[::1]:8765",
        "[0:0::1]:8765",
    ):
        assert hosts.allows(header), header


def test_unknown_and_malformed_hosts_are_refused() -> None:
    hosts = AllowedHosts(["monitor.lan"])
    for header in (
        "evil.example",
        "evil.example:8765",
        "localhost.evil.example",
        "evilmonitor.lan",
        "monitor.lan.evil.example",
        "10.0.0.7:8765",
        "[fd00::1]:8765",
        "localhost@evil.example",
        "evil.example@localhost",
        "localhost/x",
        "localhost:8765 ",
        " localhost",
        "",
        ":8765",
        "[::1",
        "[evil]:80",
        "127.0.0.1:99999x",
        "..",
    ):
        assert not hosts.allows(header), header


def test_configured_hosts_domains_and_the_bound_address_are_answered() -> None:
    hosts = AllowedHosts(["Monitor.LAN:8765", ".example.com", "[FD00:0::1]"], bind="10.0.0.7")
    for header in (
        "monitor.lan",
        "monitor.lan:1234",
        "example.com",
        "a.b.example.com:8765",
        "[fd00::1]:8765",
        "10.0.0.7:8765",
    ):
        assert hosts.allows(header), header
    assert not hosts.allows("10.0.0.8:8765")
    assert not hosts.allows("notexample.com")


def test_a_wildcard_bind_answers_every_address_but_no_unknown_name() -> None:
    for bind in ("0.0.0.0", "::"):
        hosts = AllowedHosts(bind=bind)
        assert hosts.allows("192.168.1.20:8765")
        assert hosts.allows("[2001:db8::5]:8765")
        assert not hosts.allows("evil.example:8765")


def test_origins_are_trusted_by_their_own_host_never_by_the_host_header() -> None:
    hosts = AllowedHosts(["monitor.lan"], bind="0.0.0.0")
    assert hosts.trusts_origin("http://localhost:3000", "evil.example:8765")
    assert hosts.trusts_origin("https://monitor.lan", "monitor.lan")
    assert not hosts.trusts_origin("http://evil.example:8765", "evil.example:8765")
    assert not hosts.trusts_origin("null", "localhost:8765")
    assert not hosts.trusts_origin("file://", "localhost:8765")
    assert not hosts.trusts_origin("http://localhost@evil.example", "localhost")
    # An address cannot be rebound: a page served from it may use it, and only it.
    assert hosts.trusts_origin("http://192.168.1.20:8765", "192.168.1.20:8765")
    assert not hosts.trusts_origin("http://192.168.1.66:8765", "192.168.1.20:8765")
    assert not AllowedHosts().trusts_origin("http://10.0.0.7:8765", "10.0.0.7:8765")


@pytest.mark.parametrize(
    "entries", [["http://x.example"], ["a b"], [""], ["user@host"], [".10.0.0.1"], [7], "x.lan"]
)
def test_bad_allowed_hosts_name_the_setting(entries: object) -> None:
    with pytest.raises(ConfigError, match="allowed_hosts"):
        AllowedHosts(entries)  # type: ignore[arg-type]


def test_allowed_origins_must_be_origins() -> None:
    options = ServeOptions(allowed_origins=("HTTPS://Dash.Example/", "http://10.0.0.7:3000"))
    assert options.checked().allowed_origins == ("https://dash.example", "http://10.0.0.7:3000")
    for bad in ("dash.example", "ftp://dash.example", "https://dash.example/app", "https://a@b"):
        with pytest.raises(ConfigError, match="allowed_origins"):
            ServeOptions(allowed_origins=(bad,)).checked()


@given(st.text(max_size=40))
def test_host_parsing_never_raises(text: str) -> None:
    host = host_of(text)
    assert host is None or (host == host.lower() and "@" not in host and "/" not in host)
    AllowedHosts(bind="0.0.0.0").allows(text)
    AllowedHosts().trusts_origin("http://" + text, text)


def test_allowed_hosts_come_from_the_flag_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REBELLION_ALLOWED_HOSTS", "monitor.lan, .example.com")
    assert ServeOptions().checked().allowed_hosts == ("monitor.lan", ".example.com")
    assert ServeOptions(allowed_hosts=("a.lan",)).checked().allowed_hosts == ("a.lan",)
    monkeypatch.setenv("REBELLION_ALLOWED_HOSTS", "bad host")
    with pytest.raises(ConfigError, match="allowed_hosts"):
        ServeOptions().checked()
    monkeypatch.delenv("REBELLION_ALLOWED_HOSTS")
    assert main(["serve", "--allow-host", "http://bad/", "--port", "1"]) == 2
    assert "allowed_hosts" in capsys.readouterr().err


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    options = ServeOptions(db=str(tmp_path / "h.db"), interval=0.1, allowed_hosts=("mon.lan",))
    app, _ = build(options.checked())
    with running(app) as url:
        wait_ready(url)
        yield url


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


@pytest.mark.e2e
def test_http_with_a_rebound_host_is_refused(base: str) -> None:
    port = port_of(base)
    for host in (f"evil.example:{port}", "evil.example", f"localhost.evil.example:{port}"):
        for path in ("/api/v1/snapshot", "/", "/ws", "/healthz", "/openapi.json"):
            response = httpx.get(base + path, headers={"Host": host})
            assert response.status_code == 400, (host, path)
            assert "Host" in response.json()["detail"]
    forged = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    assert httpx.get(base + "/api/v1/snapshot", headers=forged).status_code == 400


@pytest.mark.e2e
def test_http_with_a_known_host_is_answered(base: str) -> None:
    port = port_of(base)
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]", f"mon.lan:{port}"):
        response = httpx.get(base + "/api/v1/snapshot", headers={"Host": host})
        assert response.status_code == 200, host


async def handshake(base: str, host: str, origin: str | None) -> int:
    """Open /ws sending ``host`` as the Host header; return 101 or the refusal's status."""
    port = port_of(base)
    url = f"ws://{host}/ws"
    try:
        async with websockets.connect(
            url,
            host="127.0.0.1",
            port=port,
            origin=None if origin is None else Origin(origin),
            proxy=None,
            open_timeout=10,
        ) as conn:
            await asyncio.wait_for(conn.recv(), 10)
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.e2e
def test_websocket_with_a_rebound_host_or_origin_is_refused(base: str) -> None:
    port = port_of(base)
    evil = f"evil.example:{port}"
    cases = [
        (evil, f"http://{evil}", 403),  # the rebinding attack: Host and Origin agree
        (evil, None, 403),
        (f"localhost:{port}", f"http://{evil}", 403),
        (f"127.0.0.1:{port}", "null", 403),
        (f"127.0.0.1:{port}", f"http://127.0.0.1:{port}", 101),
        (f"localhost:{port}", "http://localhost:3000", 101),
        (f"mon.lan:{port}", f"http://mon.lan:{port}", 101),
        (f"127.0.0.1:{port}", None, 101),
    ]
    for host, origin, expected in cases:
        assert asyncio.run(handshake(base, host, origin)) == expected, (host, origin)


@pytest.mark.e2e
def test_allow_origin_admits_a_named_foreign_origin(tmp_path: Path) -> None:
    options = ServeOptions(
        db=str(tmp_path / "h.db"), interval=0.1, allowed_origins=("https://dash.example",)
    )
    app, _ = build(options.checked())
    with running(app) as url:
        wait_ready(url)
        port = port_of(url)
        assert asyncio.run(handshake(url, f"127.0.0.1:{port}", "https://dash.example")) == 101
        assert asyncio.run(handshake(url, f"127.0.0.1:{port}", "https://other.example")) == 403


@pytest.mark.e2e
def test_a_token_protected_wildcard_bind_answers_its_addresses(tmp_path: Path) -> None:
    options = ServeOptions(host="0.0.0.0", db=str(tmp_path / "h.db"), interval=0.1, token=TOKEN)
    app, _ = build(options.checked())
    with running(app) as url:
        wait_ready(url)
        port = port_of(url)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        ok = httpx.get(url + "/api/v1/snapshot", headers={**auth, "Host": f"10.1.2.3:{port}"})
        assert ok.status_code == 200
        bad = httpx.get(url + "/api/v1/snapshot", headers={**auth, "Host": f"evil.example:{port}"})
        assert bad.status_code == 400
