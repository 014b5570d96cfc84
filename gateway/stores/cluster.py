"""The Redis store on Redis Cluster (`--store-cluster`): redis.py's keys, scripts and
guarantees, with a cluster client and a live tail over shard channels.

Every key of a task carries `{task_id}` as its hash tag (redis.py), so its record, stream,
lease and feed channel live in one slot and every script stays single-slot; the keys shared by
tasks (`P running`, `P index:...`) are written by their own commands, never inside a task's
script (see replicas.py for why that keeps every guarantee). redis-py's cluster client follows
MOVED and ASK by itself and refreshes its slot map after a failover; a call that still fails
(the slot has no primary yet) is retried like any Redis trouble in redis.py (writes and
follower reads for `retry_for` seconds), then STORE_UNAVAILABLE.

Live tail. XREAD cannot read streams of several slots at once, so on Cluster an append also
publishes the event on the task's shard channel (`SPUBLISH P feed:{id} "<seq> <body>"`, inside
the append script: published if and only if logged). Each replica holds ONE subscriber
connection per primary (`Shard`), subscribed to the feeds of the tasks it follows on that
primary, and one reader task per connection: one blocking read per shard, not per task. Pub/Sub
delivers at most once, so a feed is a hint and the stream is the truth: a window that may have
missed something (just subscribed, its connection lost, its slot moved: the server ends the
subscription with `sunsubscribe`) is `resync`ed, which sends its followers to read the stream
(XRANGE) once; a gap between two feed messages does the same by itself (redis_tail.Window).
A channel whose subscription fails is routed again after the client refreshed its slot map.
While this replica writes a task it is not subscribed to the task's feed (it would only get
its own appends back); it subscribes again when it stops (`ClusterTail.push`). A task created
here is followed from its seed (redis_tail.Seeds) as on one Redis.

Appends are pipelined per primary (redis_pipeline.py), falling back to the cluster client on
any trouble (`ClusterStore._write`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from gateway.core.events import Event
from gateway.core.task import TaskRecord, is_final
from gateway.stores.cluster_client import BoundedCluster
from gateway.stores.redis import RedisStore
from gateway.stores.redis_pipeline import Pipeline
from gateway.stores.redis_schema import MARK, REFUSALS
from gateway.stores.redis_tail import LOCAL, Seeds, Window

log = logging.getLogger("a2a_gateway")


class ClusterStore(RedisStore):
    """`RedisStore` on Redis Cluster; `url` names any node (the others are discovered)."""

    publishes = True
    cluster = True

    def __init__(self, url: str, **options: Any) -> None:
        self._pipelines: dict[str, Pipeline] = {}  # by node: the appends to its slots
        super().__init__(url, **options)
        self._mark = self.redis.register_script(MARK)

    def _client(self, url: str, socket_timeout: float, max_connections: int) -> Any:
        return BoundedCluster.from_url(
            url,
            max_connections=max_connections,  # commands in flight, so at most this per node
            queue_wait=max(5.0, socket_timeout),  # as the single-node pool waits (redis.py)
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        )

    async def _write(self, keys: list[str], args: list[Any], script: Any) -> Any:
        """The append (or start) script, pipelined with the other tasks' to the primary of the
        task's slot (redis_pipeline.py); on any trouble there (the slot moved: MOVED or ASK; the
        node away or slow) through redis-py's cluster client instead, which follows
        redirections and refreshes its slot map. A call that reached Redis after all is
        recognised by its token, as on any retry."""
        pipeline = self._pipeline_for(keys[0])
        if pipeline is not None:
            try:
                return await pipeline.script(script.sha, script.script, keys, args)
            except ResponseError as exc:
                if str(exc).startswith(REFUSALS):
                    raise
            except (RedisError, RedisClusterException, OSError):
                pass
        return await script(keys=keys, args=args)

    async def _starting(self, record: TaskRecord, lease_ms: int) -> tuple[list[str], list[Any]]:
        """The index and `running` entries (other slots) are written first, together, so a
        task never exists without them; START gets the task's own keys only."""
        index, created = self.keys.index(record.agent, record.owner), {record.id: time.time()}
        writes = [self._retrying(lambda: self.redis.zadd(index, created, nx=True))]
        if lease_ms:
            keys, args = [self.keys.running], [lease_ms, record.id]
            writes.append(self._retrying(lambda: self._mark(keys=keys, args=args)))
        await asyncio.gather(*writes)
        return [], [lease_ms, repr(time.time())]

    def _pipeline_for(self, key: str) -> Pipeline | None:
        """The pipeline to the primary that serves `key` by the client's slot map (None
        before the client has one)."""
        nodes = self.redis.nodes_manager.slots_cache.get(self.redis.keyslot(key))
        if not nodes:
            return None
        node = nodes[0]
        pipeline = self._pipelines.get(node.name)
        if pipeline is None:

            def connection() -> Any:
                return node.connection_class(**{**node.connection_kwargs, "socket_timeout": None})

            pipeline = self._pipelines[node.name] = Pipeline(
                connection, timeout=self.socket_timeout
            )
        return pipeline

    async def close(self) -> None:
        for pipeline in self._pipelines.values():
            await pipeline.close()
        await super().close()

    def _tail(self, url: str, socket_timeout: float) -> Any:
        return ClusterTail(self.redis, socket_timeout=socket_timeout)

    async def subscriber(self) -> Any:
        """Classic Pub/Sub is broadcast to every node: a connection to any node hears all."""
        await self.redis.initialize()  # the client starts lazily: no slot map before this
        return self.redis.pubsub(node=self.redis.get_random_node(), ignore_subscribe_messages=True)

    def _follow_key(self, task_id: str) -> str:
        return self.keys.feed(task_id)

    async def health(self) -> dict[str, Any]:
        found = await super().health()
        found["backend"] = "redis-cluster"
        return found


class Shard:
    """One primary's subscriber connection and its reader."""

    def __init__(self, tail: ClusterTail, name: str, host: str, port: int) -> None:
        self.tail = tail
        self.name = name
        self.client = aioredis.Redis(
            host=host, port=port, socket_connect_timeout=tail.socket_timeout
        )
        self.pubsub: Any = self.client.pubsub()
        self.channels: set[str] = set()
        self.task = asyncio.create_task(self._read())

    def __repr__(self) -> str:
        return f"<Shard {self.name} channels={len(self.channels)}>"

    async def subscribe(self, channel: str) -> None:
        self.channels.add(channel)
        try:
            await self.pubsub.ssubscribe(channel)
        except (RedisError, OSError) as exc:
            log.debug("subscribing %s on %s: %s", channel, self.name, exc)
            self.tail.lost(self)

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        with contextlib.suppress(RedisError, OSError):
            await self.pubsub.sunsubscribe(channel)

    async def _read(self) -> None:
        while True:
            if not self.pubsub.subscribed:
                await asyncio.sleep(0.05)
                continue
            try:
                message = await self.pubsub.get_message(timeout=1.0)
            except (RedisError, OSError) as exc:
                log.debug("shard %s: %s", self.name, exc)
                self.tail.lost(self)
                return
            if message is not None:
                self.tail.on_message(self, message)

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self.pubsub.aclose()
        with contextlib.suppress(RedisError, OSError):
            await self.client.aclose()


class ClusterTail:
    """redis_tail.Tail's interface over shard channels (see the module docstring)."""

    def __init__(self, cluster: RedisCluster, *, capacity: int = 256, socket_timeout: float = 1.0):
        self._cluster = cluster
        self.capacity = capacity
        self.socket_timeout = socket_timeout
        self._windows: dict[str, Window] = {}  # by task id; a window's key is its channel
        self._shards: dict[str, Shard] = {}  # by node name
        self._where: dict[str, Shard] = {}  # channel -> its shard
        self._channels: dict[str, Window] = {}  # the same windows by channel
        self._jobs: set[asyncio.Task[None]] = set()
        self._routing: asyncio.Task[None] | None = None
        self._unrouted: set[str] = set()
        self._locals: asyncio.Task[None] | None = None  # ends the windows written here
        self._seeds = Seeds()  # as redis_tail.Tail's

    def __repr__(self) -> str:
        return f"<ClusterTail windows={len(self._windows)} shards={len(self._shards)}>"

    def join(self, task_id: str, channel: str, after: int) -> Window:
        window = self._windows.get(task_id)
        if window is None:
            window = self._windows[task_id] = Window(task_id, channel, after, self.capacity)
            self._channels[channel] = window
            if self._seeds.start(window, after) and window.local_until:
                self._expire_locals_soon()  # written here: subscribed when that stops
            else:
                self._route({channel}, refresh=False)
        window.followers += 1
        return window

    def leave(self, window: Window) -> None:
        window.followers -= 1
        if window.followers <= 0 and self._windows.get(window.task_id) is window:
            self._forget(window)

    def _forget(self, window: Window) -> None:
        del self._windows[window.task_id]
        del self._channels[window.key]
        shard = self._where.pop(window.key, None)
        if shard is not None:
            self._spawn(shard.unsubscribe(window.key))

    def push(self, task_id: str, events: list[Event]) -> None:
        """Events this process appended (one write): straight into their window, if followed
        here. While this process goes on writing the task (until a final event, a refused
        write, or `LOCAL` seconds without a write) its feed is unsubscribed here, so this
        replica does not receive its own appends back; then it subscribes again, and the
        window's followers read the stream once (`resync` at the subscription)."""
        window = self._windows.get(task_id)
        if window is None:
            self._seeds.keep(task_id, events)
            return
        window.add(events)
        if events[-1].final:
            self._end_local(window)
            return
        if not window.local_until:
            self._unrouted.discard(window.key)
            shard = self._where.pop(window.key, None)
            if shard is not None:
                self._spawn(shard.unsubscribe(window.key))
        window.local_until = time.monotonic() + LOCAL
        self._expire_locals_soon()

    def _expire_locals_soon(self) -> None:
        if self._locals is None or self._locals.done():
            self._locals = asyncio.create_task(self._expire_locals())

    def foreign(self, task_id: str) -> None:
        """Another writer appended to the task (this one's append was refused): listen."""
        self._seeds.drop(task_id)
        window = self._windows.get(task_id)
        if window is not None:
            self._end_local(window)

    def _end_local(self, window: Window) -> None:
        if window.local_until:
            window.local_until = 0.0
            if self._windows.get(window.task_id) is window:
                self._route({window.key}, refresh=False)

    async def _expire_locals(self) -> None:
        """Subscribe again to the feeds of the tasks this process stopped writing."""
        while True:
            now = time.monotonic()
            local = [w for w in self._windows.values() if w.local_until]
            if not local:
                return
            for window in local:
                if window.local_until <= now:
                    self._end_local(window)
            later = [w.local_until for w in local if w.local_until > now]
            if later:
                await asyncio.sleep(min(later) - now + 0.001)

    def invalidate(self, task_id: str) -> None:
        self._seeds.drop(task_id)
        window = self._windows.get(task_id)
        if window is not None:
            self._forget(window)
            window.invalidate()

    # --- messages -----------------------------------------------------------------------

    def on_message(self, shard: Shard, message: dict[str, Any]) -> None:
        kind = message.get("type")
        raw_channel = message.get("channel")
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        window = self._channels.get(channel)
        if window is None:
            return
        if kind == "smessage":
            data: bytes = message["data"]
            head, _, body = data.partition(b" ")
            seq = int(head)
            if window.wants(seq):
                window.add([_event(seq, body)])
        elif kind == "ssubscribe":
            window.resync()  # what was appended before the subscription took effect
        elif kind == "sunsubscribe" and self._where.get(channel) is shard:
            # Not asked for: the slot moved (resharding, failover). Route it again.
            shard.channels.discard(channel)
            del self._where[channel]
            window.resync()
            self._route({channel}, refresh=True)

    def lost(self, shard: Shard) -> None:
        """A shard's connection failed: its channels go to whoever serves them now."""
        if self._shards.get(shard.name) is not shard:
            return
        del self._shards[shard.name]
        channels = {c for c, s in self._where.items() if s is shard}
        for channel in channels:
            del self._where[channel]
            window = self._channels.get(channel)
            if window is not None:
                window.resync()
        self._spawn(shard.close())
        self._route(channels, refresh=True)

    # --- routing ------------------------------------------------------------------------

    def _route(self, channels: set[str], *, refresh: bool) -> None:
        self._unrouted |= channels
        if self._routing is None or self._routing.done():
            self._routing = asyncio.create_task(self._route_all(refresh))

    async def _route_all(self, refresh: bool) -> None:
        backoff = 0.05
        while self._unrouted:
            try:
                if refresh:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 1.0)
                    await self._cluster.nodes_manager.initialize()
                else:
                    await self._cluster.initialize()  # once: the client starts lazily
            except (RedisError, RedisClusterException, OSError) as exc:
                log.debug("refreshing the cluster's slots: %s", exc)
                refresh = True
                continue
            channels, self._unrouted = self._unrouted, set()
            for channel in channels:
                if channel not in self._channels or channel in self._where:
                    continue
                try:
                    node = self._cluster.get_node_from_key(channel)
                except (RedisError, RedisClusterException):
                    node = None
                if node is None:
                    self._unrouted.add(channel)
                    continue
                shard = self._shards.get(node.name)
                if shard is None:
                    shard = self._shards[node.name] = Shard(
                        self, node.name, node.host, int(node.port)
                    )
                self._where[channel] = shard
                await shard.subscribe(channel)
            refresh = True

    def _spawn(self, job: Any) -> None:
        task = asyncio.create_task(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def close(self) -> None:
        if self._locals is not None:
            self._locals.cancel()
            await asyncio.gather(self._locals, return_exceptions=True)
        if self._routing is not None:
            self._routing.cancel()
        for task in [*self._jobs, *([self._routing] if self._routing else [])]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for shard in list(self._shards.values()):
            await shard.close()
        self._shards.clear()


def _event(seq: int, raw: bytes) -> Event:
    body = orjson.loads(raw)
    event = Event(seq, body, is_final(body))
    event.preset(raw)
    return event
