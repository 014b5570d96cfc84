"""The reading side of the Redis store (redis.py): records rebuilt from a checkpoint and the
events after it, ranges of a task's events, live follows through the replica's tail, and
ListTasks.

`get` is one round trip (the LOAD script) plus a fold of the events after the checkpoint;
a follower reads Redis (the RANGE script) until it has caught up, then the replica's shared
window of the stream (redis_tail.py); one that joins a window of a task this process is
writing, which holds the events it wants, starts from the window at once (e.g. the stream of
the request that created the task: redis_tail's seeds). A follower retries failed reads for
`retry_for` seconds (it can wait); every other read fails at once with STORE_UNAVAILABLE.
ListTasks reads the state, context and time of every task of that owner and agent (one
pipelined round trip) and loads only the page; index entries whose task expired are removed
lazily (only those older than `INDEX_GRACE` seconds, so a task being created is never dropped
from its index).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import orjson

from gateway.core import errors
from gateway.core.events import Event
from gateway.core.task import TaskRecord, apply_body, restore
from gateway.stores.contract import (
    EventsExpired,
    TaskPage,
    TaskQuery,
    Until,
    cut,
    decode_cursor,
    encode_cursor,
)
from gateway.stores.redis_schema import Entry, Keys, decode, seq_of, unavailable
from gateway.stores.redis_tail import Window

INDEX_GRACE = 60.0  # seconds: an index entry younger than this is never dropped as gone


class RedisReads:
    """The reads of `RedisStore` (which sets these attributes)."""

    redis: Any
    keys: Keys
    tail: Any
    max_events_per_task: int
    retry_for: float
    _load: Any
    _range_script: Any

    def _follow_key(self, task_id: str) -> str:
        """What the tail watches for a task: its stream (cluster.py: its feed channel)."""
        return self.keys.events(task_id)

    async def get(self, task_id: str) -> TaskRecord | None:
        with unavailable("reading a task"):
            found = await self._load(keys=[self.keys.task(task_id), self.keys.events(task_id)])
        if found is None:
            return None
        checkpoint, entries = found
        record = restore(checkpoint)
        for entry_id, flat in entries:  # raw from Lua: [id, [field, value, ...]]
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            apply_body(record, orjson.loads(fields[b"b"]), float(fields[b"u"]))
            record.last_seq = seq_of(entry_id)
        return record

    async def bounds(self, task_id: str) -> tuple[int, int] | None:
        found = await self._ranged(task_id, 0, 0)
        if found is None:
            return None
        oldest, last, _ = found
        return oldest, last

    async def _ranged(
        self, task_id: str, after: int, count: int
    ) -> tuple[int, int, list[Entry]] | None:
        """(oldest offered seq, last seq, up to `count` entries after `after`), read at once
        by one script; None when the task is gone."""
        keys = [self.keys.task(task_id), self.keys.events(task_id)]
        with unavailable("reading a task's events"):
            found = await self._range_script(keys=keys, args=[after, count])
        if found is None:
            return None
        last, first, raw = found
        entries = [(entry_id, dict(zip(f[::2], f[1::2], strict=True))) for entry_id, f in raw]
        return self._oldest(seq_of(first), int(last)), int(last), entries

    def _oldest(self, first: int, last: int) -> int:
        """The oldest seq a reader may use: the memory backend's window exactly (MAXLEN ~
        may keep a few older entries; they are not offered)."""
        return max(first, last - self.max_events_per_task + 1)

    async def _range(self, task_id: str, after: int) -> list[Event] | None:
        """Events after `after` from Redis (at most 1000); None when the task is gone."""
        found = await self._ranged(task_id, after, 1000)
        if found is None:
            return None
        oldest, _, entries = found
        if after < oldest - 1:
            raise EventsExpired(oldest, task_id)
        return decode(entries)

    async def _catch_up(self, task_id: str, after: int) -> list[Event] | None:
        """`_range` for a follower, which can wait: a read that fails (a timeout under load,
        a cluster slot moving or failing over) is retried for `retry_for` seconds before the
        stream ends with STORE_UNAVAILABLE."""
        deadline = time.monotonic() + self.retry_for
        backoff = 0.05
        while True:
            try:
                return await self._range(task_id, after)
            except EventsExpired:
                raise  # not a failed read: retrying cannot help
            except errors.A2AError:
                if time.monotonic() + backoff > deadline:
                    raise
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 0.5)

    async def follow(
        self,
        task_id: str,
        after: int,
        *,
        idle: float | None = None,
        linger: float = 0.0,
        until: Until | None = None,
    ) -> AsyncIterator[list[Event]]:
        """Batches after `after`: from Redis until caught up, then from this process's shared
        window of the stream (redis_tail.py). Ends when the task is deleted or expires.

        With `idle`, an empty batch after every `idle` seconds without events (keep-alives).
        With `until`, ends after the first event it holds for. `linger` is accepted for the
        Store contract; the shared tail batches by itself."""
        window = self.tail.join(task_id, self._follow_key(task_id), after)
        quiet = 10.0 if idle is None else idle
        try:
            direct = not self._written_here(window, after)
            while True:
                batch = None if direct else window.since(after)
                if batch is None:
                    batch = await self._catch_up(task_id, after)
                    if batch is None:
                        return
                direct = False
                if batch:
                    end = cut(batch, until)
                    if end is not None:
                        yield end
                        return
                    yield batch
                    after = batch[-1].seq
                    continue
                if not await window.wait(timeout=quiet):
                    if idle is not None:
                        yield []
                    direct = True  # quiet for a while: check that the task still exists
        finally:
            self.tail.leave(window)

    def _written_here(self, window: Window, after: int) -> bool:
        """Whether a follower may start from the window without reading Redis first: this
        process is writing the task (so the window ends at the task's last event; a refused
        write ends that at once), the window holds the events after `after`, and they are
        all retained (else the first read raises EventsExpired)."""
        if window.local_until <= time.monotonic() or window.stale or window.error is not None:
            return False
        return bool(window.since(after)) and after >= window.last - self.max_events_per_task

    async def query(self, query: TaskQuery) -> TaskPage:
        index = self.keys.index(query.agent, query.owner)
        with unavailable("listing tasks"):
            members = cast(
                list[tuple[bytes, float]], await self.redis.zrange(index, 0, -1, withscores=True)
            )
            async with self.redis.pipeline(transaction=False) as pipe:
                for member, _ in members:
                    pipe.hmget(self.keys.task(member.decode()), "state", "ctx", "updated")
                fields: list[list[bytes | None]] = await pipe.execute()
        matches: list[tuple[float, str]] = []
        gone: list[bytes] = []
        young = time.time() - INDEX_GRACE
        for (member, created), (state, ctx, stamp) in zip(members, fields, strict=True):
            if state is None or ctx is None or stamp is None:
                if created < young:
                    gone.append(member)
                continue
            updated = float(stamp)
            if query.context_id is not None and ctx.decode() != query.context_id:
                continue
            if query.state is not None and state.decode() != query.state:
                continue
            if query.updated_after is not None and updated <= query.updated_after:
                continue
            matches.append((updated, member.decode()))
        if gone:
            with unavailable("listing tasks"):
                await self.redis.zrem(index, *gone)
        matches.sort(reverse=True)
        start = 0
        if query.page_token:
            key = decode_cursor(query.page_token)
            start = next((i for i, m in enumerate(matches) if m < key), len(matches))
        chosen = matches[start : start + query.page_size]
        loaded = await asyncio.gather(*(self.get(task_id) for _, task_id in chosen))
        page = [r for r in loaded if r is not None]
        more = start + query.page_size < len(matches)
        token = encode_cursor(page[-1]) if more and page else ""
        return TaskPage(tasks=page, next_page_token=token, total_size=len(matches))
