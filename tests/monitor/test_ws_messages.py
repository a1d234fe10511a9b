"""Malformed WebSocket client messages get an error message; the connection stays open."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from hypothesis import given
from hypothesis import strategies as st

from monitor._server import running, wait_ready
from monitor.test_hub import FakeSocket, connect, settle
from rebellion.monitor.hub import Hub
from rebellion.monitor.protocol import MESSAGE_TYPES, BadMessage, parse_client_message
from rebellion.monitor.server import ServeOptions, build

MALFORMED = [
    "",
    "not json",
    "{",
    "[" * 100_000 + "]" * 100_000,
    "1" * 10_000,
    "null",
    "[]",
    '"subscribe"',
    "{}",
    '{"type": 7}',
    '{"type": "gossip"}',
    '{"type": "subscribe", "types": [{}]}',
    '{"type": "subscribe", "types": "sample"}',
    '{"type": "subscribe", "types": ["sample", "nonsense"]}',
    '{"type": "subscribe", "types": [null]}',
    '{"type": "subscribe", "types": ' + json.dumps(["sample"] * 17) + "}",
    '{"type": "subscribe", "metrics": "cpu.*"}',
    '{"type": "subscribe", "metrics": [1, 2]}',
    '{"type": "subscribe", "metrics": [""]}',
    '{"type": "subscribe", "metrics": ["' + "x" * 201 + '"]}',
    '{"type": "subscribe", "metrics": ' + json.dumps([f"m{i}" for i in range(65)]) + "}",
    '{"type": "subscribe", "metrics": [' + "[" * 50 + "]" * 50 + "]}",
    '{"type": "subscribe", "type5": []}',
]


@pytest.mark.parametrize("text", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_messages_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(BadMessage) as caught:
        parse_client_message(text, MESSAGE_TYPES, ("cpu.*",))
    assert 0 < len(str(caught.value)) < 400


def test_well_formed_messages_set_the_subscription() -> None:
    types, metrics = parse_client_message(
        '{"type": "subscribe", "types": ["alert"], "metrics": ["cpu.*"]}', MESSAGE_TYPES, ()
    )
    assert (types, metrics) == (frozenset({"alert", "heartbeat"}), ("cpu.*",))
    assert parse_client_message('{"type": "pong", "seq": 3}', types, metrics) == (types, metrics)
    assert parse_client_message('{"type": "subscribe"}', types, metrics) == (types, metrics)
    everything = parse_client_message('{"type": "subscribe", "metrics": []}', types, metrics)
    assert everything == (types, ())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)


@given(
    st.one_of(
        st.text(max_size=200),
        json_values.map(json.dumps),
        st.dictionaries(
            st.sampled_from(["type", "types", "metrics", "extra"]),
            st.one_of(json_values, st.sampled_from(["subscribe", "pong", "sample"])),
        ).map(json.dumps),
    )
)
def test_any_text_either_applies_or_is_refused_with_bad_message(text: str) -> None:
    before = (frozenset({"alert", "heartbeat"}), ("cpu.*",))
    try:
        types, metrics = parse_client_message(text, *before)
    except BadMessage:
        return
    assert "heartbeat" in types
    assert types <= MESSAGE_TYPES
    assert all(isinstance(m, str) and m for m in metrics)


async def test_the_hub_answers_each_malformed_message_and_keeps_serving() -> None:
    hub = Hub(heartbeat=3600)
    socket = FakeSocket()
    task = await connect(hub, socket)
    socket.inbox.put_nowait('{"type": "subscribe", "types": ["sample"]}')
    for text in MALFORMED[:10]:
        socket.inbox.put_nowait(text)
        await settle()
    errors = socket.of("error")
    assert len(errors) == 10
    assert all(isinstance(e["error"], str) for e in errors)
    assert hub.stats()["bad_messages"] == 10
    assert hub.clients == 1
    assert socket.closed is None
    hub.publish("event", {"n": 1})  # still filtered by the last valid subscription
    hub.publish("sample", {"n": 2})
    await settle()
    assert [m["type"] for m in socket.sent if m["type"] != "error"] == ["sample"]
    await hub.close()
    await task


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    app, _ = build(ServeOptions(db=str(tmp_path / "h.db"), interval=0.1))
    with running(app, ws_max_size=2**20) as url:
        wait_ready(url)
        yield url


async def next_of(conn: websockets.ClientConnection, kind: str) -> dict[str, object]:
    while True:
        message = json.loads(await asyncio.wait_for(conn.recv(), 30))
        if message["type"] == kind:
            return dict(message)


@pytest.mark.e2e
def test_a_real_socket_survives_malformed_messages(base: str) -> None:
    async def scenario() -> None:
        url = base.replace("http", "ws") + "/ws"
        async with websockets.connect(url, max_size=2**22) as conn:
            await conn.send('{"type": "subscribe", "types": ["sample"]}')
            shapes: list[str | bytes] = [
                '{"type":"subscribe","types":[{}]}',  # the handler used to raise here
                "not json",
                "[" * 50_000,
                '{"type": "subscribe", "metrics": ' + json.dumps(["m"] * 10_000) + "}",
                '{"type": "launch"}',
                b"\xff\xfe binary",
                b'{"type": "subscribe", "types": [1]}',
            ]
            for shape in shapes:
                await conn.send(shape)
                error = await next_of(conn, "error")
                assert isinstance(error["error"], str), shape
            sample = await next_of(conn, "sample")
            assert "values" in sample
            await conn.send('{"type": "subscribe", "types": ["sample"], "metrics": ["cpu.total"]}')
            await conn.send('{"type": "pong"}')
            deadline = asyncio.get_running_loop().time() + 30
            while asyncio.get_running_loop().time() < deadline:
                sample = await next_of(conn, "sample")
                values = sample["values"]
                assert isinstance(values, dict)
                if set(values) == {"cpu.total"}:
                    break
            else:
                raise AssertionError("the valid subscription never applied")

    asyncio.run(scenario())
