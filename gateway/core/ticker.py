"""One shared timer for the keep-alive timeouts of every follower: `Ticker`.

A follower that has read everything waits for the next event or, after `interval` seconds
without one, for a keep-alive tick. A `loop.call_later` per wait costs each idle stream a
timer handle, its heap entry and its argument tuple, for a deadline that nobody needs to the
millisecond. A `Ticker` holds the waiting futures of one interval in three generations and
wakes every `interval / 2` seconds: each tick resolves the oldest generation with False and
ages the others. A future therefore times out between `interval` and `1.5 * interval` after
it was added; keep-alives only have to come often enough for proxies and clients.

The ticker runs only while someone waits: the tick after the last future left schedules
nothing. It belongs to one event loop (the first one that adds to it).
"""

from __future__ import annotations

import asyncio


class Ticker:
    """Times out futures `interval` to `1.5 * interval` seconds after `add`, with one timer."""

    __slots__ = ("_generations", "_timer", "interval")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        # newest first; a tick resolves the last and puts an empty one in front
        self._generations: list[set[asyncio.Future[bool]]] = [set(), set(), set()]
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        waiting = sum(len(generation) for generation in self._generations)
        return f"<Ticker interval={self.interval} waiting={waiting}>"

    def add(self, future: asyncio.Future[bool]) -> None:
        """Resolve `future` with False once its time is up, unless it is done or discarded."""
        self._generations[0].add(future)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval / 2, self._tick)

    def discard(self, future: asyncio.Future[bool]) -> None:
        for generation in self._generations:
            generation.discard(future)

    def _tick(self) -> None:
        expired = self._generations.pop()
        self._generations.insert(0, set())
        for future in expired:
            if not future.done():
                future.set_result(False)
        if any(self._generations):
            self._timer = asyncio.get_running_loop().call_later(self.interval / 2, self._tick)
        else:
            self._timer = None
