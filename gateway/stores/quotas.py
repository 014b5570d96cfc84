"""Limits that hold across every replica on one Redis: what is held is counted in Redis, with
lease-like expiry, so a dead replica's holdings lapse by themselves.

A quota is a sorted set, `P turns:{principal}` (the running turns of a principal) or
`P subscribers:{task id}` (the open streams of a task, in the task's Cluster slot); each
member is one holding (a turn's task id, a stream's `replica:n`), scored by its expiry in
Redis time. Taking one is one script on one key (so it is single-slot on Redis Cluster): drop
the expired members, refuse when as many as the limit remain (unless `force`), else add it.
Every holding of this replica is renewed by the replicas' heartbeat (every lease/3; see
replicas.py); a holding is given back when its turn or stream ends. A replica that dies (kill
-9) leaves its holdings behind for at most one lease, then they no longer count.

Costs: a take is one round trip (a forced one, `hold`, is sent in the background); a
give-back one more, sent in the background (a failed one lapses with the lease); the heartbeat
sends one script per key this replica holds anything on. The scripts go through the store's
pipelined connection (redis_pipeline.py) with its appends, not a pooled connection each.
Failures: a take that cannot reach Redis raises STORE_UNAVAILABLE (the request fails, like any
call while Redis is away).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from redis.exceptions import RedisClusterException, RedisError

from gateway.stores.redis import RedisStore, unavailable

log = logging.getLogger("a2a_gateway")

# KEYS: quota; ARGV: holder, limit, lease_ms, force -> 1 taken, 0 full
_TAKE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[4] ~= '1' and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: quota; ARGV: lease_ms, holder 1..n -> their expiry moves a lease ahead
_RENEW = """
local t = redis.call('TIME')
local expiry = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1
"""

# KEYS: quota; ARGV: holder
_GIVE = "return redis.call('ZREM', KEYS[1], ARGV[1])"


class Quotas:
    """This replica's holdings in the cluster-wide quotas; see the module docstring."""

    def __init__(self, store: RedisStore, *, lease_ms: int) -> None:
        self.store = store
        self.lease_ms = lease_ms
        self.replica = store.replica
        self._take = store.redis.register_script(_TAKE)
        self._renew = store.redis.register_script(_RENEW)
        self._give = store.redis.register_script(_GIVE)
        self._held: dict[str, set[str]] = {}  # quota key: holders of this replica
        self._streams = itertools.count(1)
        self._background: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<Quotas keys={len(self._held)} held={sum(map(len, self._held.values()))}>"

    def turns_key(self, principal: str) -> str:
        return f"{self.store.keys.prefix}turns:{{{principal}}}"

    def subscribers_key(self, task_id: str) -> str:
        return f"{self.store.keys.prefix}subscribers:{{{task_id}}}"

    def stream_holder(self) -> str:
        """A new holder name for one stream of this replica."""
        return f"{self.replica}:{next(self._streams)}"

    async def take(self, key: str, holder: str, limit: int, *, force: bool = False) -> bool:
        """Hold one of `limit` places of `key` (any number with `force`); False when full."""
        with unavailable("counting a limit"):
            taken = await self.store.pipelined(
                self._take, [key], [holder, limit, self.lease_ms, "1" if force else "0"]
            )
        if taken:
            self._held.setdefault(key, set()).add(holder)
        return bool(taken)

    def hold(self, key: str, holder: str) -> None:
        """A place that is never refused (`take` with `force`, e.g. the stream of the request
        that starts a turn), counted here at once and in Redis by a background call: the
        caller does not wait for a round trip. If that call fails, the next heartbeat adds it."""
        self._held.setdefault(key, set()).add(holder)
        self._spawn(self._add(key, holder))

    async def _add(self, key: str, holder: str) -> None:
        try:
            await self.store.pipelined(self._take, [key], [holder, 0, self.lease_ms, "1"])
        except (RedisError, RedisClusterException, OSError, RuntimeError) as exc:
            log.warning("could not count %s in %s: %s", holder, key, exc)

    def give_back(self, key: str, holder: str) -> None:
        """Stop holding (at once here; in Redis by a background call, or by expiry)."""
        holders = self._held.get(key)
        if holders is None or holder not in holders:
            return
        holders.discard(holder)
        if not holders:
            del self._held[key]
        self._spawn(self._remove(key, holder))

    def _spawn(self, job: Any) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _remove(self, key: str, holder: str) -> None:
        try:
            await self.store.pipelined(self._give, [key], [holder])
        except (RedisError, RedisClusterException, OSError, RuntimeError) as exc:
            # e.g. Redis away, or the store closed at shutdown: it lapses by itself
            log.warning("could not give back %s of %s: %s", holder, key, exc)

    async def renew(self) -> None:
        """Move every holding of this replica a lease ahead (the heartbeat calls this)."""
        held = [(key, sorted(holders)) for key, holders in self._held.items() if holders]
        for start in range(0, len(held), 100):
            chunk: list[Any] = [
                self.store.pipelined(self._renew, [key], [self.lease_ms, *holders])
                for key, holders in held[start : start + 100]
            ]
            await asyncio.gather(*chunk)

    async def close(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
