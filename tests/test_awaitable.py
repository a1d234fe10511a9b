"""Results that are ready now and may be awaited: no coroutine, no warning, same value."""

from __future__ import annotations

import json

from rebellion._awaitable import DONE, ReadyDict


def test_a_plain_call_never_creates_a_coroutine() -> None:
    # filterwarnings=error would turn a "never awaited" RuntimeWarning into a failure.
    status = ReadyDict(state="OPEN")
    assert status["state"] == "OPEN"
    assert json.loads(json.dumps(status)) == {"state": "OPEN"}
    assert repr(DONE) == "DONE"


async def test_awaiting_gives_the_same_value() -> None:
    status = ReadyDict(a=1)
    assert await status is status
    assert await DONE is None
    assert await status is status  # awaitable more than once
