"""Results that are ready now and may also be awaited, for calls the seeds wrote with ``await``.

Some operations finish at once (forcing a breaker open, reading a pool's metrics), and
the seed documents ``await`` them. Returning one of these keeps both spellings right:
the plain call gives the value, ``await`` gives the same value, and no event loop or
coroutine is involved (so a sync caller never sees "coroutine was never awaited").

>>> import asyncio
>>> status = ReadyDict({"state": "OPEN"})
>>> status["state"]
'OPEN'
>>> async def main():
...     return (await status)["state"], await DONE
>>> asyncio.run(main())
('OPEN', None)
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, final

__all__ = ["DONE", "Done", "ReadyDict"]


@final
class Done:
    """The result of an action that already happened: ``None``, awaitable."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        yield from ()  # a generator that finishes at once

    def __repr__(self) -> str:
        return "DONE"


DONE = Done()
"""The one :class:`Done` instance."""


@final
class ReadyDict(dict[str, Any]):
    """A dict that ``await`` returns unchanged (a snapshot that is ready now)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, ReadyDict]:
        yield from ()  # a generator that finishes at once
        return self
