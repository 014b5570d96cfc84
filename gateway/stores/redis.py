"""Task store and per-task event log in Redis, shared by every gateway replica.

The modules: redis_schema.py (the keys, the Lua scripts, the error translation), this one (the
store and its writes), redis_reads.py (records, ranges, follows, ListTasks), redis_tail.py
(the live tail of one replica), cluster.py (the same store on Redis Cluster).

Writes are one Lua script per batch of events (`APPEND`) touching only the task's own keys (one
slot), so the stream entries and the hash change together or not at all, in O(events): the
record is not rewritten per event, and nothing shared (index, running set) is touched per
event. A checkpoint (the whole record) is stored at every turn start and every final status,
and in between by size (`Checkpoints`): once K events (`checkpoint_every`) AND as many bytes
as the last checkpoint held have been logged since it, or at the latest every half of the
retained events. So a record that grows with its events (a long artifact) is stored a
logarithmic number of times, not every K events (which cost O(events^2) bytes per stream);
`get` rebuilds a record as the checkpoint plus a fold of the entries after it
(`task.apply_body`), which hold fewer than K events or about as many bytes as the checkpoint.

Fencing: an append names the seq it writes and is refused (StoreConflict) unless the log's last
seq is the one before it, so two writers can never both log seq N: the loser learns its record
is stale and stops. Because the SSE id of an event is its seq, which is also its stream id, an
id works on every replica. A write whose answer was lost is retried with the same token and
recognised as already done, never logged twice. Writes retry for `retry_for` seconds while
Redis is away (the pump waits, reading at most bridge.READ_AHEAD events ahead), then raise
STORE_UNAVAILABLE; a follower's reads retry as long, other reads fail at once with it. Socket
timeouts are short; the client reconnects by itself when Redis returns.

Retention: a terminal event sets a TTL (`finished_ttl`) on the task's hash and stream; index
entries whose task expired are removed lazily by the next ListTasks of that owner.

This module is one Redis (standalone, or a primary with replicas and Sentinel); cluster.py is
the same store on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from gateway.core import errors
from gateway.core.events import Event, compact
from gateway.core.task import TaskRecord, dump, is_final
from gateway.stores.contract import StoreConflict
from gateway.stores.redis_pipeline import Pipeline
from gateway.stores.redis_reads import RedisReads
from gateway.stores.redis_schema import APPEND, LOAD, RANGE, START, Keys, decode, unavailable
from gateway.stores.redis_tail import Tail

__all__ = ["RedisStore", "unavailable"]


class Checkpoints:
    """When a writer stores the whole record again, per task it writes: due at a turn start
    or a final event (the caller says `forced`), when nothing is known of the task's last
    checkpoint (another process wrote it, or an append failed), when `most` events were logged
    since it (it must stay within the retained events), or when `every` events AND at least
    its own size in bytes were. Marks are dropped at final events, refused or failed writes
    and deletes, so they are held only for tasks this process is writing."""

    __slots__ = ("_marks", "every", "most")

    def __init__(self, every: int, most: int) -> None:
        self.every = every
        self.most = most
        self._marks: dict[str, tuple[int, int, int]] = {}  # id: (seq, size, bytes since)

    def due(self, task_id: str, last: int, size: int, *, forced: bool) -> bool:
        """Whether the write that ends at `last`, logging `size` bytes, stores a checkpoint;
        if not, the bytes are counted."""
        mark = self._marks.get(task_id)
        if forced or mark is None:
            return True
        seq, stored, since = mark
        since += size
        events = last - seq
        if events >= self.most or (events >= self.every and since >= stored):
            return True
        self._marks[task_id] = (seq, stored, since)
        return False

    def stored(self, task_id: str, seq: int, size: int, *, final: bool) -> None:
        """A checkpoint of `size` bytes was logged at `seq` (a final one drops the mark)."""
        if final:
            self._marks.pop(task_id, None)
        else:
            self._marks[task_id] = (seq, size, 0)

    def forget(self, task_id: str) -> None:
        self._marks.pop(task_id, None)


class RedisStore(RedisReads):
    """The `Store` contract over Redis; see the module docstring for keys and guarantees."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "a2a:",
        max_events_per_task: int = 10_000,
        finished_ttl: float = 3600.0,
        replica: str | None = None,
        socket_timeout: float = 1.0,
        retry_for: float = 3.0,
        max_connections: int = 64,
        checkpoint_every: int = 200,
    ) -> None:
        self.url = url
        self.keys = Keys(prefix)
        self.max_events_per_task = max_events_per_task
        self.finished_ttl = finished_ttl
        self.replica = replica or uuid.uuid4().hex
        self.retry_for = retry_for
        most = max(1, max_events_per_task // 2)
        self.checkpoints = Checkpoints(max(1, min(checkpoint_every, most)), most)
        self.redis: Any = self._client(url, socket_timeout, max_connections)
        self._append = self.redis.register_script(APPEND)
        self._start = self.redis.register_script(START)
        self._load = self.redis.register_script(LOAD)
        self._range_script = self.redis.register_script(RANGE)
        self._tokens = itertools.count(1)
        self.tail: Any = self._tail(url, socket_timeout)
        self.socket_timeout = socket_timeout
        self._pipeline = Pipeline(self._connection, timeout=socket_timeout)

    publishes = False  # whether appends publish on the task's feed channel (cluster.py)
    cluster = False  # on Redis Cluster: the keys shared by tasks are in other slots (cluster.py)

    def _client(self, url: str, socket_timeout: float, max_connections: int) -> Any:
        """The client every call uses (cluster.py: a cluster client)."""
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            # Waiting for a free connection under load is not Redis failing: wait longer.
            timeout=max(5.0, socket_timeout),
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
        )
        return aioredis.Redis.from_pool(pool)  # owns (closes) the pool

    def _connection(self) -> Any:
        """A new connection like the pool's, for the pipeline (which times replies itself)."""
        pool = self.redis.connection_pool
        return pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})

    async def _write(self, keys: list[str], args: list[Any], script: Any) -> Any:
        """One call of the append (or start) script, a registered `Script`: pipelined with
        the other tasks' (cluster.py: to the task's node)."""
        return await self._pipeline.script(script.sha, script.script, keys, args)

    async def pipelined(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Call a registered script of one slot's keys through the appends' pipelined
        connection (quotas.py's: no pooled connection and its round trip of its own)."""
        return await self._write(keys, args, script)

    def _tail(self, url: str, socket_timeout: float) -> Any:
        """The live tail of this replica (cluster.py: one over shard channels)."""
        return Tail(url, decode, pool=self.redis, socket_timeout=socket_timeout)

    async def subscriber(self) -> Any:
        """A Pub/Sub connection for the cancel channel (replicas.py)."""
        return self.redis.pubsub(ignore_subscribe_messages=True)

    def __repr__(self) -> str:
        return f"<RedisStore {self.keys.prefix!r} replica={self.replica[:8]} {self.tail!r}>"

    # --- writes -------------------------------------------------------------------------

    async def create(self, record: TaskRecord, body: dict[str, Any], *, lease_ms: int = 0) -> Event:
        """Register the task and log its first event, in one script (redis_schema.START) with
        its ListTasks index entry and, with `lease_ms`, its turn's lease and `running` entry
        (replicas.py): a task is never listed or leased without its first event, nor the
        reverse. KeyError when the task exists; StoreConflict when another replica holds its
        lease."""
        if record.last_seq != 0:
            raise ValueError("a new task's record has no events yet")
        try:
            started = await self._log(
                record, [(body, record.updated)], start=await self._starting(record, lease_ms)
            )
        except StoreConflict as exc:
            if "LEASED" in str(exc):
                raise
            raise KeyError(f"task {record.id} exists") from None
        return started[0]

    async def _starting(self, record: TaskRecord, lease_ms: int) -> tuple[list[str], list[Any]]:
        """The START script's keys and arguments beyond the task's own (cluster.py: none,
        having written the index and the `running` entry, in other slots, itself)."""
        index = self.keys.index(record.agent, record.owner)
        return [self.keys.running, index], [lease_ms, repr(time.time())]

    async def append(
        self, record: TaskRecord, body: dict[str, Any], *, unowned: bool = False
    ) -> Event:
        """Log the next event; StoreConflict when another writer got there first (or, with
        `unowned`, while a replica holds the task's lease)."""
        return (await self.append_many(record, [(body, record.updated)], unowned=unowned))[0]

    async def append_many(
        self,
        record: TaskRecord,
        items: list[tuple[dict[str, Any], float]],
        *,
        unowned: bool = False,
    ) -> list[Event]:
        """Log the next events (body, time) at once: one script, one round trip, fenced and
        recognised on retry as a whole (all of them are logged or none). `record` already has
        them all applied; only the last may be final. A checkpoint, when one is due
        (`Checkpoints`), is the record after the batch's last event."""
        return await self._log(record, items, unowned=unowned)

    async def _log(
        self,
        record: TaskRecord,
        items: list[tuple[dict[str, Any], float]],
        *,
        unowned: bool = False,
        start: tuple[list[str], list[Any]] | None = None,
    ) -> list[Event]:
        """`append_many`; with `start` (`_starting`: more keys, more arguments) the task's
        first event through the START script instead of APPEND."""
        first = record.last_seq + 1
        last = first + len(items) - 1
        bodies = [body for body, _ in items]
        raws = [orjson.dumps(body) for body in bodies]
        final = is_final(bodies[-1])
        record.last_seq = last
        forced = final or any("task" in b for b in bodies)
        size = sum(map(len, raws))
        checkpoint = (
            dump(record) if self.checkpoints.due(record.id, last, size, forced=forced) else b""
        )
        keys = self.keys
        args: list[Any] = [
            record.id,
            first,
            len(items),
            record.state,
            record.context_id,
            repr(record.updated),
            f"{self.replica}:{next(self._tokens)}",
            int(final),
            int(record.terminal),
            checkpoint,
            self.max_events_per_task,
            max(1, int(self.finished_ttl * 1000)),
            int(unowned),
            self.replica,
            int(self.publishes),
        ]
        task_keys = [
            keys.task(record.id),
            keys.events(record.id),
            keys.lease(record.id),
            keys.feed(record.id),
        ]
        script = self._append
        if start is not None:
            script = self._start
            task_keys += start[0]
            args += start[1]
        for raw, (_, when) in zip(raws, items, strict=True):
            args += [raw, repr(when)]
        try:
            await self._retrying(lambda: self._write(task_keys, args, script))
        except ResponseError as exc:  # one of our script's refusals
            record.last_seq = first - 1
            self.checkpoints.forget(record.id)
            self.tail.foreign(record.id)
            raise StoreConflict(f"task {record.id}: {exc}") from None
        except BaseException:
            record.last_seq = first - 1
            self.checkpoints.forget(record.id)
            raise
        if checkpoint:
            self.checkpoints.stored(record.id, last, len(checkpoint), final=final)
        events = []
        for seq, body, raw in zip(range(first, last + 1), bodies, raws, strict=True):
            event = Event(seq, body, is_final(body))
            event.preset(compact(raw))
            events.append(event)
        self.tail.push(record.id, events)
        return events

    async def _retrying(self, write: Any) -> Any:
        """Run an idempotent write, retrying connection trouble for `retry_for` seconds."""
        deadline = time.monotonic() + self.retry_for
        backoff = 0.05
        while True:
            try:
                with unavailable("writing an event"):
                    return await write()
            except errors.A2AError:
                if time.monotonic() + backoff > deadline:
                    raise
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 0.5)

    async def delete(self, task_id: str) -> None:
        with unavailable("deleting a task"):
            await self.redis.delete(self.keys.task(task_id), self.keys.events(task_id))
        self.checkpoints.forget(task_id)
        self.tail.invalidate(task_id)

    # --- lifecycle ----------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        try:
            with unavailable("ping"):
                await self.redis.ping()
        except errors.A2AError as exc:
            return {"backend": "redis", "status": "unavailable", "error": exc.message}
        except RedisError as exc:
            return {"backend": "redis", "status": "unavailable", "error": str(exc)}
        return {"backend": "redis", "status": "ok", "replica": self.replica}

    async def close(self) -> None:
        await self._pipeline.close()
        await self.tail.close()
        await self.redis.aclose()
