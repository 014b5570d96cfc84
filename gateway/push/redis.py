"""Push configs and delivery cursors in Redis, shared by every replica.

Keys (`P` is the store's prefix; `{task_id}` is a Redis Cluster hash tag, so a task's push
keys share one slot and every script below touches one slot only):

    P push:{task_id}              hash: c:<config id> the config (configs.PushConfig.dump),
                                  s:<config id> its cursor (configs.Cursor.dump),
                                  v:<config id> its version (bumped by every put)
    P push:{task_id}:lease:<cid>  the replica delivering the config (PX `lease`)
    P push:due                    sorted set of "<task id> <config id>" by the time (ms,
                                  Redis clock) its lease runs out: where replicas look for
                                  work whose holder died. Kept apart from the scripts (it is
                                  in another slot): a hint, while the lease decides.

One holder per config: a claim is SET NX on the lease; `advance` writes the cursor only while
the writer holds the lease (a replica cut off and replaced cannot move the cursor back or
forth). A replica that dies leaves its lease to expire; another one's `due` finds it and
continues from the cursor. Retention: a task's push hash expires `RETAIN` seconds after its
last write (7 days), or `finished_ttl` after its terminal event was delivered (`forget`).
"""

from __future__ import annotations

import contextlib
from typing import Any, cast

import redis.asyncio as aioredis

from gateway.push.configs import ACTIVE, Cursor, PushConfig
from gateway.push.state import GONE, LOST, TooMany
from gateway.stores.redis import unavailable

RETAIN = 7 * 24 * 3600

# KEYS: hash; ARGV: cid, config, cursor, limit, retain_ms -> {cursor in effect} or error TOOMANY
_PUT = """
local c, s, v = 'c:' .. ARGV[1], 's:' .. ARGV[1], 'v:' .. ARGV[1]
local cursor = ARGV[3]
if redis.call('HEXISTS', KEYS[1], c) == 0 then
  if redis.call('HLEN', KEYS[1]) / 3 >= tonumber(ARGV[4]) then
    return redis.error_reply('TOOMANY')
  end
else
  cursor = redis.call('HGET', KEYS[1], s)
  local state = cjson.decode(cursor)
  if state['state'] == 'failing' then
    state['state'] = 'active'
    state['failure'] = cjson.null
    cursor = cjson.encode(state)
  end
end
redis.call('HSET', KEYS[1], c, ARGV[2], s, cursor)
redis.call('HINCRBY', KEYS[1], v, 1)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return cursor
"""

# KEYS: hash, lease; ARGV: cid, replica, lease_ms -> 1 claimed, 0 held elsewhere, -1 not active
_CLAIM = """
local cursor = redis.call('HGET', KEYS[1], 's:' .. ARGV[1])
if not cursor or cjson.decode(cursor)['state'] ~= 'active' then return -1 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
if redis.call('GET', KEYS[2]) == ARGV[2] then return 1 end
return 0
"""

# KEYS: hash, lease; ARGV: cid, replica, cursor, lease_ms, retain_ms -> version, -1 lost, -2 gone
_ADVANCE = """
if redis.call('HEXISTS', KEYS[1], 'c:' .. ARGV[1]) == 0 then return -2 end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], 's:' .. ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return tonumber(redis.call('HGET', KEYS[1], 'v:' .. ARGV[1]))
"""

# KEYS: hash, lease; ARGV: cid, replica, lease_ms -> version (lease renewed), -1 lost, -2 gone
_CURRENT = """
if redis.call('HEXISTS', KEYS[1], 'c:' .. ARGV[1]) == 0 then return -2 end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return -1 end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return tonumber(redis.call('HGET', KEYS[1], 'v:' .. ARGV[1]))
"""

# KEYS: lease; ARGV: replica, lease_ms -> 1 renewed, 0 lost
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: lease; ARGV: replica
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class RedisPushState:
    """The PushState contract (state.py) on the task store's Redis client and prefix."""

    def __init__(
        self, redis: aioredis.Redis, *, prefix: str, replica: str, lease: float = 10.0
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.replica = replica
        self.lease_ms = max(100, int(lease * 1000))
        self.due_key = f"{prefix}push:due"
        self._put = redis.register_script(_PUT)
        self._claim = redis.register_script(_CLAIM)
        self._advance = redis.register_script(_ADVANCE)
        self._renew = redis.register_script(_RENEW)
        self._current = redis.register_script(_CURRENT)
        self._release = redis.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"<RedisPushState {self.prefix!r} replica={self.replica[:8]}>"

    def key(self, task_id: str) -> str:
        return f"{self.prefix}push:{{{task_id}}}"

    def lease(self, task_id: str, config_id: str) -> str:
        return f"{self.prefix}push:{{{task_id}}}:lease:{config_id}"

    @staticmethod
    def member(task_id: str, config_id: str) -> str:
        return f"{task_id} {config_id}"

    async def _now_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def put(self, config: PushConfig, cursor: Cursor, *, limit: int) -> Cursor:
        args: list[Any] = [config.id, config.dump(), cursor.dump(), limit, RETAIN * 1000]
        with unavailable("storing a push config"):
            try:
                stored = await self._put(keys=[self.key(config.task_id)], args=args)
            except aioredis.ResponseError as exc:
                if "TOOMANY" in str(exc):
                    raise TooMany(limit) from None
                raise
            # due now: if this replica does not claim it at once, another one will
            await self.redis.zadd(self.due_key, {self.member(config.task_id, config.id): 0})
        return Cursor.restore(stored)

    async def get(self, task_id: str, config_id: str) -> tuple[PushConfig, Cursor] | None:
        with unavailable("reading a push config"):
            raw, cursor = await self.redis.hmget(
                self.key(task_id), [f"c:{config_id}", f"s:{config_id}"]
            )
        if raw is None or cursor is None:
            return None
        return PushConfig.restore(raw), Cursor.restore(cursor)

    async def configs(self, task_id: str) -> list[tuple[PushConfig, Cursor]]:
        with unavailable("reading push configs"):
            fields = cast(dict[bytes, bytes], await self.redis.hgetall(self.key(task_id)))
        out = []
        for name, value in fields.items():
            if name.startswith(b"c:"):
                cursor = fields.get(b"s:" + name[2:])
                if cursor is not None:
                    out.append((PushConfig.restore(value), Cursor.restore(cursor)))
        return out

    async def count(self, task_id: str) -> int:
        with unavailable("reading push configs"):
            return int(await self.redis.hlen(self.key(task_id))) // 3

    async def delete(self, task_id: str, config_id: str) -> bool:
        with unavailable("deleting a push config"):
            removed = await self.redis.hdel(
                self.key(task_id), f"c:{config_id}", f"s:{config_id}", f"v:{config_id}"
            )
            await self.redis.delete(self.lease(task_id, config_id))
            await self.redis.zrem(self.due_key, self.member(task_id, config_id))
        return bool(removed)

    async def current(self, task_id: str, config_id: str) -> int:
        keys = [self.key(task_id), self.lease(task_id, config_id)]
        with unavailable("checking a push config"):
            result = int(
                await self._current(keys=keys, args=[config_id, self.replica, self.lease_ms])
            )
        return result if result >= 0 else (LOST if result == -1 else GONE)

    async def claim(self, task_id: str, config_id: str) -> bool:
        keys = [self.key(task_id), self.lease(task_id, config_id)]
        with unavailable("claiming a push config"):
            claimed = int(
                await self._claim(keys=keys, args=[config_id, self.replica, self.lease_ms])
            )
            member = self.member(task_id, config_id)
            if claimed == 1:
                await self.redis.zadd(self.due_key, {member: await self._now_ms() + self.lease_ms})
            elif claimed == -1:
                await self.redis.zrem(self.due_key, member)
        return claimed == 1

    async def advance(self, config: PushConfig, cursor: Cursor) -> int:
        keys = [self.key(config.task_id), self.lease(config.task_id, config.id)]
        args: list[Any] = [config.id, self.replica, cursor.dump(), self.lease_ms, RETAIN * 1000]
        with unavailable("recording a push delivery"):
            result = int(await self._advance(keys=keys, args=args))
            if result >= 0 and cursor.state != ACTIVE:
                await self.redis.zrem(self.due_key, self.member(config.task_id, config.id))
        return result if result >= 0 else (LOST if result == -1 else GONE)

    async def release(self, task_id: str, config_id: str) -> None:
        with contextlib.suppress(aioredis.RedisError, OSError):  # else it runs out by itself
            await self._release(keys=[self.lease(task_id, config_id)], args=[self.replica])

    async def renew(self, held: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if not held:
            return []
        lost = []
        with unavailable("renewing push leases"):
            until = await self._now_ms() + self.lease_ms
            for task_id, config_id in held:
                keys = [self.lease(task_id, config_id)]
                if int(await self._renew(keys=keys, args=[self.replica, self.lease_ms])):
                    await self.redis.zadd(self.due_key, {self.member(task_id, config_id): until})
                else:
                    lost.append((task_id, config_id))
        return lost

    async def due(self) -> list[tuple[str, str]]:
        with unavailable("looking for push work"):
            now = await self._now_ms()
            members = await self.redis.zrangebyscore(self.due_key, "-inf", now, start=0, num=100)
        out = []
        for member in cast(list[bytes], members):
            task_id, _, config_id = member.decode().partition(" ")
            out.append((task_id, config_id))
        return out

    async def forget(self, task_id: str, ttl: float) -> None:
        with unavailable("expiring push configs"):
            await self.redis.pexpire(self.key(task_id), max(1, int(ttl * 1000)))

    async def tasks(self) -> list[str]:
        return []  # keys expire by themselves

    async def close(self) -> None:
        return None  # the task store owns the client
