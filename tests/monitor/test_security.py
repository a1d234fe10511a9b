"""Auth on a real server: bearer, query and subprotocol tokens, origin check, bind rules, logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from monitor._server import running, wait_ready
from rebellion.errors import ConfigError
from rebellion.monitor.security import is_loopback, redact
from rebellion.monitor.server import ServeOptions, build, install_redaction

TOKEN = "correct-horse-battery-staple"


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    app, _ = build(ServeOptions(db=str(tmp_path / "h.db"), interval=0.1, token=TOKEN).checked())
    with running(app, log_level="info") as url:
        wait_ready(url)
        yield url


def ws(base: str) -> str:
    return base.replace("http", "ws") + "/ws"


async def first_message(url: str, **kwargs: object) -> str:
    async with websockets.connect(url, **kwargs) as conn:  # type: ignore[arg-type]
        return str(await asyncio.wait_for(conn.recv(), 5))


async def refused_status(url: str, **kwargs: object) -> int:
    try:
        async with websockets.connect(url, **kwargs):  # type: ignore[arg-type]
            pass
    except InvalidStatus as refused:
        return refused.response.status_code
    raise AssertionError("the handshake was accepted")


@pytest.mark.e2e
def test_http_needs_the_token(base: str) -> None:
    assert httpx.get(base + "/api/v1/snapshot").status_code == 401
    wrong = {"Authorization": "Bearer " + "x" * len(TOKEN)}
    assert httpx.get(base + "/api/v1/snapshot", headers=wrong).status_code == 401
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(base + "/api/v1/snapshot", headers=right).status_code == 200
    assert httpx.get(base + "/api/v1/snapshot", params={"token": TOKEN}).status_code == 200


@pytest.mark.e2e
def test_probes_stay_open_without_the_token(base: str) -> None:
    assert httpx.get(base + "/healthz").status_code == 200
    assert httpx.get(base + "/readyz").status_code == 200


@pytest.mark.e2e
def test_websocket_needs_the_token(base: str) -> None:
    assert asyncio.run(refused_status(ws(base))) == 401
    text = asyncio.run(
        first_message(ws(base), subprotocols=["rebellion.v1", f"rebellion.token.{TOKEN}"])
    )
    assert '"type"' in text
    assert '"type"' in asyncio.run(first_message(ws(base) + f"?token={TOKEN}"))


@pytest.mark.e2e
def test_websocket_from_a_foreign_origin_is_refused(base: str) -> None:
    url = ws(base) + f"?token={TOKEN}"
    assert asyncio.run(refused_status(url, origin="http://evil.example")) == 403
    assert '"type"' in asyncio.run(first_message(url, origin=base))


@pytest.mark.e2e
def test_the_token_never_reaches_the_logs(base: str, caplog: pytest.LogCaptureFixture) -> None:
    install_redaction()
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep()
    loggers = [logging.getLogger(n) for n in ("uvicorn.access", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        httpx.get(base + "/api/v1/snapshot", params={"token": TOKEN})
        httpx.get(base + "/api/v1/snapshot", headers={"Authorization": f"Bearer {TOKEN}"})
        asyncio.run(first_message(ws(base) + f"?token={TOKEN}"))
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert records, "uvicorn wrote no access log lines"
    assert all(TOKEN not in line for line in records), records
    assert any("token=***" in line for line in records)


def test_non_loopback_bind_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REBELLION_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="token"):
        ServeOptions(host="0.0.0.0").checked()
    assert ServeOptions(host="0.0.0.0", token=TOKEN).checked().token == TOKEN
    monkeypatch.setenv("REBELLION_TOKEN", TOKEN)
    assert ServeOptions(host="0.0.0.0").checked().token == TOKEN
    assert ServeOptions(host="::1").checked().host == "::1"


def test_short_tokens_and_bad_ports_are_refused() -> None:
    with pytest.raises(ConfigError, match="token must be at least 16"):
        ServeOptions(token="short").checked()
    with pytest.raises(ConfigError, match="port"):
        ServeOptions(port=70000).checked()
    with pytest.raises(ConfigError, match="interval"):
        ServeOptions(interval=0.001).checked()


def test_short_tokens_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        ServeOptions(token="hunter2").checked()
    assert "hunter2" not in str(caught.value)


def test_loopback_detection_and_redaction() -> None:
    assert is_loopback("localhost")
    assert is_loopback("127.0.0.2")
    assert is_loopback("::1")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("example.com")
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"


@pytest.mark.e2e
def test_plain_http_upgrade_without_websocket_headers_is_not_a_crash(base: str) -> None:
    response = httpx.get(base + "/ws", params={"token": TOKEN})
    assert response.status_code < 500
    with pytest.raises(InvalidStatus):
        asyncio.run(first_message(base.replace("http", "ws") + "/nowhere"))
