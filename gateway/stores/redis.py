"""Task store and per-task event log in Redis, shared by every gateway replica.

Keys (`P` is the configured prefix, default `a2a:`; `{id}` is literal: every key of one task
carries the task id as its hash tag, so on Redis Cluster they share one slot):

    P task:{id}              hash  rec (a checkpoint: task.dump), cseq (its seq), seq (last seq),
                                   state, ctx, updated, w (token of the last write)
    P events:{id}            stream, one entry per event, id `<seq>-0`, fields b (the v1.0
                                   body, JSON) and u (the event's time); trimmed to the
                                   retained count with MAXLEN ~
    P feed:{id}              (Cluster only) shard channel: every appended event, `<seq> <body>`,
                                   for the live tails of cluster.py
    P index:{agent}:{owner}  sorted set of task ids by creation time (ListTasks), written once
                                   per task, before its first event
    P lease:{id}, P running  the turn leases of replicas.py

Writes are one Lua script per event (`_APPEND`) touching only the task's own keys (one slot),
so the stream entry and the hash change together or not at all, in O(1): the record is not
rewritten per event, and nothing shared (index, running set) is touched per event. A checkpoint
(the whole record) is stored at every turn start, every final status and every K-th event
(K < retained events), and `get` rebuilds a record as the checkpoint plus a fold of the fewer
than K entries after it (`task.apply_body`).

Fencing: an append names the seq it writes and is refused (StoreConflict) unless the log's last
seq is the one before it, so two writers can never both log seq N: the loser learns its record
is stale and stops. Because the SSE id of an event is its seq, which is also its stream id, an
id works on every replica. A write whose answer was lost is retried with the same token and
recognised as already done, never logged twice. Writes retry for `retry_for` seconds while
Redis is away (the pump waits, reading at most bridge.READ_AHEAD events ahead), then raise
STORE_UNAVAILABLE; a follower's reads retry as long, other reads fail at once with it. Socket
timeouts are short; the client reconnects by itself when Redis returns.

Retention: a terminal event sets a TTL (`finished_ttl`) on the task's hash and stream; index
entries whose task expired are removed lazily by the next ListTasks of that owner (only those
older than `_INDEX_GRACE` seconds, so a task being created is never dropped from the index).

Costs and limits: an append is one round trip; `get` one round trip plus a fold of fewer than
K events; ListTasks reads the state, context and time of every task of that owner and agent
(one pipelined round trip) and loads only the page. This module is one Redis (standalone, or a
primary with replicas and Sentinel); cluster.py is the same store on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from gateway.core import errors
from gateway.core.events import Event, compact
from gateway.core.task import TaskRecord, apply_body, dump, is_final, restore
from gateway.stores.contract import (
    EventsExpired,
    StoreConflict,
    TaskPage,
    TaskQuery,
    decode_cursor,
    encode_cursor,
)
from gateway.stores.redis_tail import Tail

# KEYS: task, events, lease, feed (all of one slot)
# ARGV: id, first seq, n, state, ctx, updated, token, final, terminal, checkpoint, maxlen,
#       ttl_ms, unowned, replica, publish, then n pairs (body, time): events first..first+n-1
_APPEND = """
local cur = redis.call('HGET', KEYS[1], 'seq')
local first = tonumber(ARGV[2])
local last = first + tonumber(ARGV[3]) - 1
if first == 1 then
  if cur then
    if redis.call('HGET', KEYS[1], 'w') == ARGV[7] then return 0 end
    return redis.error_reply('EXISTS')
  end
else
  if not cur then return redis.error_reply('GONE') end
  cur = tonumber(cur)
  if cur ~= first - 1 then
    if cur == last and redis.call('HGET', KEYS[1], 'w') == ARGV[7] then return 0 end
    return redis.error_reply('CONFLICT ' .. cur)
  end
end
if ARGV[13] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then
  return redis.error_reply('LEASED')
end
for seq = first, last do
  local i = 16 + 2 * (seq - first)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[11], seq .. '-0', 'b', ARGV[i], 'u', ARGV[i + 1])
  if ARGV[15] == '1' then redis.call('SPUBLISH', KEYS[4], seq .. ' ' .. ARGV[i]) end
end
redis.call('HSET', KEYS[1], 'seq', last, 'state', ARGV[4], 'ctx', ARGV[5], 'updated', ARGV[6],
           'w', ARGV[7])
if ARGV[10] ~= '' then redis.call('HSET', KEYS[1], 'rec', ARGV[10], 'cseq', last) end
if ARGV[8] == '1' and redis.call('GET', KEYS[3]) == ARGV[14] then redis.call('DEL', KEYS[3]) end
if ARGV[9] == '1' then
  redis.call('PEXPIRE', KEYS[1], ARGV[12])
  redis.call('PEXPIRE', KEYS[2], ARGV[12])
end
return 1
"""

# KEYS: task, events -> {checkpoint, entries after it} or nil
_LOAD = """
local h = redis.call('HMGET', KEYS[1], 'rec', 'cseq')
if not h[1] then return nil end
return {h[1], redis.call('XRANGE', KEYS[2], (tonumber(h[2]) + 1) .. '-0', '+')}
"""

# KEYS: task, events; ARGV: after, count -> {last seq, first entry id, entries} or nil
_RANGE = """
local last = redis.call('HGET', KEYS[1], 'seq')
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if not last or #first == 0 then return nil end
local entries = {}
if tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', KEYS[2], (tonumber(ARGV[1]) + 1) .. '-0', '+', 'COUNT', ARGV[2])
end
return {last, first[1][1], entries}
"""

_INDEX_GRACE = 60.0  # seconds: an index entry younger than this is never dropped as gone

_REFUSALS = ("EXISTS", "GONE", "CONFLICT", "LEASED")

Entry = tuple[bytes, dict[bytes, bytes]]


class Keys:
    """Key names under one prefix (replicas.py and cluster.py use them too). The prefix may
    not hold `{` or `}`: the task id in braces must be each task key's hash tag."""

    def __init__(self, prefix: str) -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError(f"store prefix {prefix!r} may not contain '{{' or '}}'")
        self.prefix = prefix
        self.running = f"{prefix}running"
        self.cancel = f"{prefix}cancel"

    def task(self, task_id: str) -> str:
        return f"{self.prefix}task:{{{task_id}}}"

    def events(self, task_id: str) -> str:
        return f"{self.prefix}events:{{{task_id}}}"

    def lease(self, task_id: str) -> str:
        return f"{self.prefix}lease:{{{task_id}}}"

    def feed(self, task_id: str) -> str:
        return f"{self.prefix}feed:{{{task_id}}}"

    def index(self, agent: str, owner: str) -> str:
        return f"{self.prefix}index:{agent}:{owner}"


def decode(entries: list[Entry]) -> list[Event]:
    """Stream entries -> events (the v1.0 encoding is the stored JSON itself)."""
    events = []
    for entry_id, fields in entries:
        raw = fields[b"b"]
        body = orjson.loads(raw)
        event = Event(_seq(entry_id), body, is_final(body))
        event.preset(raw)
        events.append(event)
    return events


def _seq(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


@contextmanager
def unavailable(doing: str) -> Iterator[None]:
    """The one translation point of Redis errors into STORE_UNAVAILABLE: no connection, a
    timeout, or an error reply (out of memory, read-only replica, ...). Our scripts' own
    refusals (EXISTS, GONE, CONFLICT, LEASED) pass through for the caller to judge."""
    try:
        yield
    except ResponseError as exc:
        if str(exc).startswith(_REFUSALS):
            raise
        raise errors.store_unavailable(f"{doing}: {exc}") from None
    except (RedisError, RedisClusterException, OSError) as exc:  # cluster: no slot map yet...
        raise errors.store_unavailable(f"{doing}: {exc or type(exc).__name__}") from None
    except (RuntimeError, AttributeError) as exc:
        # redis-py 8.x raises these from a connection whose transport closed under it ("the
        # handler is closed", "'NoneType' object has no attribute 'writelines'"; seen with a
        # cluster node paused mid-stream): the store is away, not a bug of the caller's.
        if isinstance(exc, RuntimeError) and "closed" not in str(exc):
            raise
        raise errors.store_unavailable(f"{doing}: {type(exc).__name__}: {exc}") from None


class RedisStore:
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
        self.checkpoint_every = max(1, min(checkpoint_every, max_events_per_task // 2))
        self.redis: Any = self._client(url, socket_timeout, max_connections)
        self._append = self.redis.register_script(_APPEND)
        self._load = self.redis.register_script(_LOAD)
        self._range_script = self.redis.register_script(_RANGE)
        self._tokens = itertools.count(1)
        self.tail: Any = self._tail(url, socket_timeout)

    publishes = False  # whether appends publish on the task's feed channel (cluster.py)

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

    def _tail(self, url: str, socket_timeout: float) -> Any:
        """The live tail of this replica (cluster.py: one over shard channels)."""
        return Tail(url, decode, pool=self.redis, socket_timeout=socket_timeout)

    async def subscriber(self) -> Any:
        """A Pub/Sub connection for the cancel channel (replicas.py)."""
        return self.redis.pubsub(ignore_subscribe_messages=True)

    def _follow_key(self, task_id: str) -> str:
        """What the tail watches for a task: its stream (cluster.py: its feed channel)."""
        return self.keys.events(task_id)

    def __repr__(self) -> str:
        return f"<RedisStore {self.keys.prefix!r} replica={self.replica[:8]} {self.tail!r}>"

    # --- writes -------------------------------------------------------------------------

    async def create(self, record: TaskRecord, body: dict[str, Any]) -> Event:
        if record.last_seq != 0:
            raise ValueError("a new task's record has no events yet")
        index = self.keys.index(record.agent, record.owner)
        # Before the first event, so a listed task is never missing from its index (on
        # Cluster the index is in another slot than the task: no script can do both).
        await self._retrying(lambda: self.redis.zadd(index, {record.id: time.time()}, nx=True))
        try:
            return await self.append(record, body)
        except StoreConflict:
            raise KeyError(f"task {record.id} exists") from None

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
        them all applied; only the last may be final. A checkpoint, when one is due within the
        batch, is the record after its last event."""
        first = record.last_seq + 1
        last = first + len(items) - 1
        bodies = [body for body, _ in items]
        raws = [orjson.dumps(body) for body in bodies]
        final = is_final(bodies[-1])
        record.last_seq = last
        due = final or any("task" in b for b in bodies)
        due = due or last // self.checkpoint_every != (first - 1) // self.checkpoint_every
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
            dump(record) if due else b"",
            self.max_events_per_task,
            max(1, int(self.finished_ttl * 1000)),
            int(unowned),
            self.replica,
            int(self.publishes),
        ]
        for raw, (_, when) in zip(raws, items, strict=True):
            args += [raw, repr(when)]
        task_keys = [
            keys.task(record.id),
            keys.events(record.id),
            keys.lease(record.id),
            keys.feed(record.id),
        ]
        try:
            await self._retrying(lambda: self._append(keys=task_keys, args=args))
        except ResponseError as exc:  # one of our script's refusals
            record.last_seq = first - 1
            self.tail.foreign(record.id)
            raise StoreConflict(f"task {record.id}: {exc}") from None
        except BaseException:
            record.last_seq = first - 1
            raise
        events = []
        for seq, body, raw in zip(range(first, last + 1), bodies, raws, strict=True):
            event = Event(seq, body, is_final(body))
            event.preset(compact(raw))
            self.tail.push(record.id, event)
            events.append(event)
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
        self.tail.invalidate(task_id)

    # --- reads --------------------------------------------------------------------------

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
            record.last_seq = _seq(entry_id)
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
        return self._oldest(_seq(first), int(last)), int(last), entries

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
            raise EventsExpired(oldest)
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
            except errors.A2AError:
                if time.monotonic() + backoff > deadline:
                    raise
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 0.5)

    async def follow(
        self, task_id: str, after: int, *, idle: float | None = None, linger: float = 0.0
    ) -> AsyncIterator[list[Event]]:
        """Batches after `after`: from Redis until caught up, then from this process's shared
        window of the stream (redis_tail.py). Ends when the task is deleted or expires.

        With `idle`, an empty batch after every `idle` seconds without events (keep-alives).
        `linger` is accepted for the Store contract; the shared tail batches by itself."""
        window = self.tail.join(task_id, self._follow_key(task_id), after)
        quiet = 10.0 if idle is None else idle
        try:
            direct = True
            while True:
                batch = None if direct else window.since(after)
                if batch is None:
                    batch = await self._catch_up(task_id, after)
                    if batch is None:
                        return
                direct = False
                if batch:
                    yield batch
                    after = batch[-1].seq
                    continue
                if not await window.wait(timeout=quiet):
                    if idle is not None:
                        yield []
                    direct = True  # quiet for a while: check that the task still exists
        finally:
            self.tail.leave(window)

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
        young = time.time() - _INDEX_GRACE
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
        await self.tail.close()
        await self.redis.aclose()
