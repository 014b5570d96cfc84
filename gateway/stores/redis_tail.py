"""Live tails of Redis event streams: ONE blocking reader per replica, fanned out locally.

Every task followed in this process has a `Window`: the newest events of its stream that this
process has seen, decoded once and shared by all of its local followers (so an event's wire
encodings are computed once per replica, as with the memory store). One reader task runs
`XREAD BLOCK` over the streams of every window and feeds them; events appended by this process
are pushed into their window directly (no round trip), the reader brings the ones appended by
other replicas. A new window interrupts a blocked reader with `CLIENT UNBLOCK` so its stream is
read at once.

Seeds: a task created here usually gets its first follower (the stream of the request that
created it) only after its first event was logged. So the events this process appends to a
task it created, while no window follows it, are kept as the task's seed (its first `SEED`
events at most, for `LOCAL` seconds), and a window that then joins starts from them: that
follower needs no first read of Redis (redis_reads.follow), and the task stays out of the
blocking read while this process writes it.

A window is a cache, never the truth: a follower whose cursor is older than a window reads the
stream itself (`XRANGE`), so a window may forget old events (it keeps `capacity`) or lose
contiguity (it then restarts), and nothing is lost. Connections: the reader's own one, plus the
shared pool for CLIENT UNBLOCK. When Redis fails the reader retries with backoff; after `grace`
seconds of failure every follower is ended with STORE_UNAVAILABLE (they resume by id later),
so nothing waits or queues without bound while Redis is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.core import errors
from gateway.core.events import Event

log = logging.getLogger("a2a_gateway")

LOCAL = 1.0  # seconds a task written here stays out of the blocking read after its last write
SEED = 64  # at most this many first events of a task created here are kept for its followers
UNKNOWN = 1 << 62  # a window's start after `resync`: it reaches back nowhere

Decode = Callable[[list[tuple[bytes, dict[bytes, bytes]]]], list[Event]]


class Window:
    """The newest events of one task seen by this process: seqs `start + 1 ... last`."""

    __slots__ = (
        "_changed",
        "capacity",
        "entries",
        "error",
        "followers",
        "key",
        "local_until",
        "stale",
        "start",
        "task_id",
    )

    def __init__(self, task_id: str, key: str, start: int, capacity: int) -> None:
        self.task_id = task_id
        self.key = key
        self.start = start
        self.capacity = capacity
        self.entries: list[Event] = []
        self.followers = 0
        self.error: Exception | None = None
        self.stale = False  # followers must look at Redis itself (e.g. the task was deleted)
        self.local_until = 0.0  # while this process writes the task, it is not read back
        self._changed = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Window {self.task_id} start={self.start} last={self.last} n={self.followers}>"

    @property
    def last(self) -> int:
        return self.start + len(self.entries)

    def wants(self, seq: int) -> bool:
        """Whether an event of this seq would extend the window (else it is not decoded)."""
        return self.start == UNKNOWN or seq > self.last

    def resync(self) -> None:
        """Forget what the window holds: its followers read Redis itself once, and the next
        event that arrives starts it again (used when a feed may have missed events)."""
        self.entries.clear()
        self.start = UNKNOWN
        self._wake()

    def add(self, events: list[Event]) -> None:
        """Take the events that extend the window; a gap restarts it after the gap."""
        added = False
        for event in events:
            if self.start == UNKNOWN:
                self.start = event.seq - 1
            elif event.seq <= self.last:
                continue
            elif event.seq > self.last + 1:
                self.entries.clear()
                self.start = event.seq - 1
            self.entries.append(event)
            added = True
        if len(self.entries) >= 2 * self.capacity:
            drop = len(self.entries) - self.capacity
            del self.entries[:drop]
            self.start += drop
        if added:
            self._wake()

    def fail(self, error: Exception) -> None:
        self.error = error
        self._wake()

    def invalidate(self) -> None:
        self.stale = True
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def since(self, after: int) -> list[Event] | None:
        """Events after `after`; None when the window does not reach back that far."""
        if self.error is not None:
            raise self.error
        if after < self.start or self.stale:
            return None
        return self.entries[after - self.start :]

    async def wait(self, timeout: float) -> bool:
        """Wait for new events (True) or `timeout` (False)."""
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that arrives as the event is set, and a drained stream went on.
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        return True


class Seeds:
    """The first events of the tasks created here that no window follows yet (the module
    docstring), each kept `LOCAL` seconds from its creation; used by cluster.py's tail too."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        # task id: (expiry, last write, its events), in creation order (so in expiry order)
        self._held: dict[str, tuple[float, float, list[Event]]] = {}

    def keep(self, task_id: str, events: list[Event]) -> None:
        """Events this process appended to a task no window follows: kept if they start the
        task or extend its seed; a gap or more than SEED events drops the seed."""
        now = time.monotonic()
        seed = self._held.get(task_id)
        if seed is None:
            if events[0].seq != 1:
                return
            while self._held:  # drop the expired ones (the oldest come first)
                oldest = next(iter(self._held))
                if self._held[oldest][0] > now:
                    break
                del self._held[oldest]
            self._held[task_id] = (now + LOCAL, now, list(events))
            return
        expiry, _, held = seed
        if events[0].seq != held[-1].seq + 1 or len(held) + len(events) > SEED:
            del self._held[task_id]
            return
        held.extend(events)
        self._held[task_id] = (expiry, now, held)

    def drop(self, task_id: str) -> None:
        self._held.pop(task_id, None)

    def start(self, window: Window, after: int) -> bool:
        """Start a new window of a task from its seed if it has one that reaches back to
        `after` (the window is then written here: `local_until` as a push would set it)."""
        seed = self._held.pop(window.task_id, None)
        if seed is None or seed[0] <= time.monotonic() or seed[2][0].seq > after + 1:
            return False
        _, written, events = seed
        window.start = events[0].seq - 1
        window.add(events)
        window.local_until = 0.0 if events[-1].final else written + LOCAL
        return True


class Tail:
    """The windows of this process and the reader that feeds them."""

    def __init__(
        self,
        url: str,
        decode: Decode,
        *,
        pool: aioredis.Redis,
        capacity: int = 256,
        block_ms: int = 2000,
        grace: float = 3.0,
        socket_timeout: float = 2.0,
    ) -> None:
        self._decode = decode
        self._pool = pool
        self._reader = aioredis.Redis.from_url(
            url,
            single_connection_client=True,
            # A blocked read answers within block_ms; under load it may take longer, and a
            # slow answer must not count as Redis failing (that would end every stream).
            socket_timeout=block_ms / 1000 + max(5.0, socket_timeout),
            socket_connect_timeout=socket_timeout,
        )
        self.capacity = capacity
        self.block_ms = block_ms
        self.grace = grace
        self._windows: dict[str, Window] = {}
        self._task: asyncio.Task[None] | None = None
        self._reader_id: int | None = None
        self._blocked = False
        self._unblocking: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()  # a window joined or became foreign
        self._until = 0.0  # when the reader's current wait ends by itself (monotonic)
        self._seeds = Seeds()

    def __repr__(self) -> str:
        return f"<Tail windows={len(self._windows)} reading={self._task is not None}>"

    def join(self, task_id: str, key: str, after: int) -> Window:
        window = self._windows.get(task_id)
        if window is None:
            window = self._windows[task_id] = Window(task_id, key, after, self.capacity)
            self._seeds.start(window, after)
            # A window written here is left out of the read until its writes stop: the reader
            # needs waking only if it would not look at the windows again before that.
            reading = self._task is not None and not self._task.done()
            if not window.local_until or not reading or self._until > window.local_until:
                self._poke()
        window.followers += 1
        return window

    def leave(self, window: Window) -> None:
        window.followers -= 1
        if window.followers <= 0 and self._windows.get(window.task_id) is window:
            del self._windows[window.task_id]

    def push(self, task_id: str, events: list[Event]) -> None:
        """Events this process appended (one write): straight into their window, if followed
        here (its followers wake once). While this process goes on writing the task (until a
        final event, a conflict, or `LOCAL` seconds without a write) its stream is left out of
        the blocking read: this replica never reads its own appends back."""
        window = self._windows.get(task_id)
        if window is not None:
            window.add(events)
            window.local_until = 0.0 if events[-1].final else time.monotonic() + LOCAL
        else:
            self._seeds.keep(task_id, events)

    def foreign(self, task_id: str) -> None:
        """Another writer appended to the task (this one's append was refused): read it."""
        self._seeds.drop(task_id)
        window = self._windows.get(task_id)
        if window is not None and window.local_until:
            window.local_until = 0.0
            self._poke()

    def invalidate(self, task_id: str) -> None:
        self._seeds.drop(task_id)
        window = self._windows.pop(task_id, None)
        if window is not None:
            window.invalidate()

    def _poke(self) -> None:
        self._changed.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._read())
        elif self._blocked and self._reader_id is not None and self._unblocking is None:
            self._unblocking = asyncio.create_task(self._unblock(self._reader_id))

    async def _unblock(self, reader_id: int) -> None:
        try:
            with contextlib.suppress(RedisError):  # the reader's block times out anyway
                await self._pool.client_unblock(reader_id)
        finally:
            self._unblocking = None

    async def _read(self) -> None:
        failing_since: float | None = None
        backoff = 0.05
        while self._windows:
            now = time.monotonic()
            streams: dict[Any, Any] = {
                w.key: f"{w.last}-0" for w in self._windows.values() if w.local_until <= now
            }
            holds = [w.local_until - now for w in self._windows.values() if w.local_until > now]
            block = self.block_ms if not holds else max(1, int(min(holds) * 1000) + 1)
            block = min(block, self.block_ms)
            self._changed.clear()
            self._until = now + block / 1000
            if not streams:  # every followed task is written here: wait for that to change
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(block / 1000):
                        await self._changed.wait()
                continue
            try:
                if self._reader_id is None:
                    self._reader_id = int(await self._reader.client_id())
                self._blocked = True
                try:
                    found: Any = await self._reader.xread(streams, count=1000, block=block)
                finally:
                    self._blocked = False
            except RedisError as exc:
                self._reader_id = None
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since >= self.grace:
                    self._fail_all(exc)
                    failing_since = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            failing_since, backoff = None, 0.05
            by_key = {w.key: w for w in self._windows.values()}
            for key, entries in found or []:
                window = by_key.get(key.decode() if isinstance(key, bytes) else key)
                if window is None:
                    continue
                # This replica's own appends are in the window already (push): decode only
                # what another replica appended.
                fresh = [e for e in entries if window.wants(int(e[0].partition(b"-")[0]))]
                if fresh:
                    window.add(self._decode(fresh))
        self._task = None

    def _fail_all(self, exc: Exception) -> None:
        error = errors.store_unavailable(f"reading events: {exc}")
        log.warning("ending %d followed streams: %s", len(self._windows), error.message)
        for window in self._windows.values():
            window.fail(error)
        self._windows.clear()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._reader.aclose()
