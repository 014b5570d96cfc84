"""One pipelined connection for the appends of a replica (one Redis; cluster.py keeps redis-py's
per-call path, which routes every call to its slot's node).

Every pump's write is one script call (EVALSHA of redis_schema.APPEND). Through a connection
pool each call is a round trip of its own: a connection taken and given back, a socket write,
a socket read, and redis-py's machinery around them. Here the calls of every task share one
connection instead: the calls made while the previous socket write was on its way go out
together in one write, and one reader task takes the replies in the order they were sent
(Redis answers a connection's commands in that order). Each call still awaits its own reply;
nothing is taken as logged before Redis answered it.

Order and fencing: a task has at most one write in flight (its pump awaits each one), so the
pipeline never reorders the writes of a task, and the append script's fence holds as it does
on any connection. Failures: a call that has no reply after `timeout` seconds (whatever held
it: connecting, the queue, Redis; checked every `timeout`/4 by one watcher) raises
TimeoutError, and so does every call sent on the same connection (the replies behind it
cannot come first); a connection error fails every call in flight on that connection with
ConnectionError; then the next call connects again. The store's retry loop
sends a failed call again with the same token, recognised if it was logged. An error reply
fails its own call only. A call cancelled before it was sent is not sent; one cancelled after
it was sent may be logged or not, as on any connection (the caller then reads the stored
record: bridge._record_end).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = bytes | str | int | float


def pack(args: Sequence[Arg]) -> bytes:
    """One command in RESP: an array of bulk strings (str as UTF-8, numbers in decimal)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:
            data = repr(arg).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class _Call:
    __slots__ = ("deadline", "future", "packed")

    def __init__(self, packed: bytes, future: asyncio.Future[Any], deadline: float) -> None:
        self.packed = packed
        self.future = future
        self.deadline = deadline  # loop time by which it must have its reply


class _Link:
    """One connection, the calls sent on it and not answered yet, and its reader."""

    __slots__ = ("conn", "reader", "replies", "sent")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sent: deque[_Call] = deque()
        self.replies = asyncio.Event()  # set when calls were sent
        self.reader: asyncio.Task[None] | None = None


class Pipeline:
    """Script calls of many tasks over one connection; see the module docstring.

    `connection` makes a new, unconnected redis-py connection (no socket timeout of its own:
    the pipeline times replies itself)."""

    def __init__(self, connection: Callable[[], Any], *, timeout: float = 1.0) -> None:
        self._connection = connection
        self.timeout = timeout
        self._link: _Link | None = None
        self._pending: list[_Call] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._waiting = 0  # calls whose callers wait
        self._closed = False

    def __repr__(self) -> str:
        sent = len(self._link.sent) if self._link else 0
        return f"<Pipeline pending={len(self._pending)} sent={sent}>"

    async def script(self, sha: str, source: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """EVALSHA the script (EVAL once more when Redis does not know it, e.g. after a
        restart); the reply, or the error reply raised as ResponseError."""
        head: list[Arg] = [sha, len(keys), *keys, *args]
        try:
            return await self.call(b"EVALSHA", *head)
        except NoScriptError:
            return await self.call(b"EVAL", source, *head[1:])

    async def call(self, *args: Arg) -> Any:
        """Send one command with those of other tasks and await its reply."""
        if self._closed:
            raise RedisConnectionError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append(_Call(pack(args), future, loop.time() + self.timeout))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch())
        self._wake.set()
        self._waiting += 1
        try:
            return await future
        finally:
            self._waiting -= 1

    async def _watch(self) -> None:
        """Time the calls out (one timer for all of them, not one per call): every
        `timeout`/4 seconds while calls wait, a call still waiting past its deadline fails
        with TimeoutError; if it was sent, so does everything sent on its connection (the
        replies behind a stuck one cannot come first), and the next call connects again."""
        loop = asyncio.get_running_loop()
        while not self._closed and self._waiting:
            await asyncio.sleep(self.timeout / 4)
            now = loop.time()
            link = self._link
            if link is not None and link.sent and link.sent[0].deadline <= now:
                await self._broken(link, RedisTimeoutError("Timeout reading from Redis"))
            for call in self._pending:
                if call.deadline <= now and not call.future.done():
                    call.future.set_exception(RedisTimeoutError("Timeout waiting for Redis"))

    async def _write(self) -> None:
        """Send what is pending, every time there is something: one socket write each."""
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            calls = [c for c in self._pending if not c.future.done()]  # not the cancelled
            self._pending = []
            if not calls:
                continue
            link = self._link
            if link is None:
                link = _Link(self._connection())
                link.sent.extend(calls)
                try:
                    async with asyncio.timeout(self.timeout):  # its handshake has none
                        await link.conn.connect()
                except Exception as exc:  # refused, timed out, auth...
                    await self._broken(link, exc)
                    continue
                self._link = link
                link.reader = asyncio.create_task(self._read(link))
            else:
                link.sent.extend(calls)
            try:
                await link.conn.send_packed_command([c.packed for c in calls], check_health=False)
            except Exception as exc:
                await self._broken(link, exc)
                continue
            link.replies.set()

    async def _read(self, link: _Link) -> None:
        """Take the replies of `link` in order until it breaks or is replaced."""
        while self._link is link:
            if not link.sent:
                link.replies.clear()
                await link.replies.wait()
                continue
            try:  # no timeout here: the watcher's (one for all calls)
                reply: Any = await link.conn.read_response(timeout=math.inf)
            except ResponseError as exc:  # an error reply: the connection goes on
                reply = exc
            except Exception as exc:
                await self._broken(link, exc)
                return
            call = link.sent.popleft()
            if call.future.done():
                continue  # its caller was cancelled
            if isinstance(reply, Exception):
                call.future.set_exception(reply)
            else:
                call.future.set_result(reply)

    async def _broken(self, link: _Link, exc: Exception) -> None:
        """Fail every call in flight on `link` (ConnectionError or TimeoutError) and drop it."""
        if not isinstance(exc, RedisConnectionError | RedisTimeoutError):
            exc = RedisConnectionError(f"{type(exc).__name__}: {exc}")
        while link.sent:
            call = link.sent.popleft()
            if not call.future.done():
                call.future.set_exception(exc)
        if self._link is link:
            self._link = None
        link.replies.set()  # its reader, if waiting, sees it is replaced and ends
        with contextlib.suppress(Exception):
            await link.conn.disconnect(nowait=True)

    async def close(self) -> None:
        self._closed = True
        reader = self._link.reader if self._link is not None else None
        tasks = [t for t in (self._writer, self._watcher, reader) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for call in self._pending:
            if not call.future.done():
                call.future.set_exception(RedisConnectionError("the store is closed"))
        self._pending = []
        if self._link is not None:
            await self._broken(self._link, RedisConnectionError("the store is closed"))
