"""What the Redis store keeps, and the Lua scripts that change it (redis.py is the store).

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
                                   per task: with its first event (START) on one Redis, before
                                   it on Cluster (another slot)
    P lease:{id}, P running  the turn leases of replicas.py

`unavailable` is the one translation point of Redis errors into STORE_UNAVAILABLE.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import orjson
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from gateway.core import errors
from gateway.core.events import Event
from gateway.core.task import is_final

# KEYS: task, events, lease, feed (all of one slot)
# ARGV: id, first seq, n, state, ctx, updated, token, final, terminal, checkpoint, maxlen,
#       ttl_ms, unowned, replica, publish, then n pairs (body, time): events first..first+n-1
# (START: two more before the pairs, see there). Refusals: EXISTS, GONE, CONFLICT, LEASED.
_FENCE = """
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
"""

_WRITE = """
for seq = first, last do
  local i = BASE + 2 * (seq - first)
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

APPEND = _FENCE + _WRITE.replace("BASE", "16")

# A new task's first event with what else starts it, in one script (one round trip instead of
# four): its turn's lease (replicas.py: taken unless another replica holds it, LEASED) and,
# on one Redis, its entry in `running` (scored like MARK) and in its ListTasks index. On
# Redis Cluster those two keys are in other slots: cluster.py writes them before, by their
# own commands, and passes the task's four keys only.
# KEYS: as APPEND, then (one Redis only) running, index
# ARGV: as APPEND (first seq 1), then lease_ms (0: no lease), created (the index score),
#       then the pairs
START = (
    _FENCE
    + """
local lease_ms = tonumber(ARGV[16])
if lease_ms > 0 then
  local holder = redis.call('GET', KEYS[3])
  if holder and holder ~= ARGV[14] then return redis.error_reply('LEASED') end
  redis.call('SET', KEYS[3], ARGV[14], 'PX', lease_ms)
end
if #KEYS > 4 then
  if lease_ms > 0 then
    local t = redis.call('TIME')
    redis.call('ZADD', KEYS[5], t[1] * 1000 + math.floor(t[2] / 1000) + lease_ms, ARGV[1])
  end
  redis.call('ZADD', KEYS[6], 'NX', ARGV[17], ARGV[1])
end
"""
    + _WRITE.replace("BASE", "18")
)

# KEYS: running; ARGV: lease_ms, task id 1..n -> scores them by the lease expiry (Redis time)
MARK = """
local t = redis.call('TIME')
local expiry = t[1] * 1000 + math.floor(t[2] / 1000) + ARGV[1]
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
return #ARGV - 1
"""

# KEYS: task, events -> {checkpoint, entries after it} or nil
LOAD = """
local h = redis.call('HMGET', KEYS[1], 'rec', 'cseq')
if not h[1] then return nil end
return {h[1], redis.call('XRANGE', KEYS[2], (tonumber(h[2]) + 1) .. '-0', '+')}
"""

# KEYS: task, events; ARGV: after, count -> {last seq, first entry id, entries} or nil
RANGE = """
local last = redis.call('HGET', KEYS[1], 'seq')
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if not last or #first == 0 then return nil end
local entries = {}
if tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', KEYS[2], (tonumber(ARGV[1]) + 1) .. '-0', '+', 'COUNT', ARGV[2])
end
return {last, first[1][1], entries}
"""

REFUSALS = ("EXISTS", "GONE", "CONFLICT", "LEASED")  # the append script's error replies

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
        event = Event(seq_of(entry_id), body, is_final(body))
        event.preset(raw)
        events.append(event)
    return events


def seq_of(entry_id: bytes | str) -> int:
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
        if str(exc).startswith(REFUSALS):
            raise
        raise errors.store_unavailable(f"{doing}: {exc}") from None
    except (RedisError, RedisClusterException, OSError) as exc:  # cluster: no slot map yet...
        raise errors.store_unavailable(f"{doing}: {str(exc) or type(exc).__name__}") from None
    except (RuntimeError, AttributeError) as exc:
        # redis-py 8.x raises these from a connection whose transport closed under it ("the
        # handler is closed", "'NoneType' object has no attribute 'writelines'"; seen with a
        # cluster node paused mid-stream): the store is away, not a bug of the caller's.
        if isinstance(exc, RuntimeError) and "closed" not in str(exc):
            raise
        raise errors.store_unavailable(f"{doing}: {type(exc).__name__}: {exc}") from None
