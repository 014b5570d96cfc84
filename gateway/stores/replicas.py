"""Gateway replicas sharing one Redis store: who runs which turn, cancels across replicas, and
what happens to the turns of a replica that dies.

Leases. The replica running a task turn holds `P lease:{id}` (its replica id, with a TTL of
`lease` seconds) and the task is in `P running`, scored by the lease's expiry. A claim is
`SET NX`, so two replicas never run turns of one task at once (a message continuing an
input-required task may land on any replica; the first to claim it runs the turn). A heartbeat
renews the leases of this replica's turns every `lease/3` seconds.

Lost replicas. Every replica sweeps every `lease/2` seconds (jittered): a task whose lease
expired while it is in `P running` gets a FAILED status with reason REPLICA_LOST, written with
an append that Redis refuses while any lease exists and that is fenced by seq, so exactly one
replica writes it and subscribers anywhere receive it as the final event. Expiry is decided by
Redis alone (PX TTLs, and TIME inside the scripts for scores): a replica's clock skewed by
seconds or hours cannot fail a live turn, nor keep a dead one alive. If the owner was only cut
off (not dead), its heartbeat finds the lease taken or the task finished and stops its turn
without writing; its next append would be refused anyway.

Cancel. `CancelTask` on a replica that does not run the turn publishes the task id on
`P cancel`; the owner cancels its gRPC call at once and logs CANCELED; the asking replica
follows the log until the final event (asking again each second, since Pub/Sub delivers at
most once). A task with no lease (interrupted, or its owner died) is cancelled by the asking
replica itself; so is one whose owner died holding its lease, as soon as the lease lapses:
the asker waits for the larger of `cancel_wait` seconds and the lease's remaining TTL, and
answers CANCEL_TIMEOUT only when the owner keeps renewing its lease without cancelling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

import orjson
from redis.exceptions import RedisClusterException, RedisError

from gateway.core import errors
from gateway.core.events import Event
from gateway.core.task import FAILED, FINAL, TaskRecord, set_status
from gateway.stores.contract import StoreConflict
from gateway.stores.quotas import Quotas
from gateway.stores.redis import RedisStore, unavailable
from gateway.stores.redis_schema import MARK

log = logging.getLogger("a2a_gateway")

REPLICA_LOST = "REPLICA_LOST"

# Each script touches one task's keys (one Cluster slot) or only `running`; `running` is an
# index of the leases for the sweeper, repaired by every heartbeat, while the lease itself
# (and the fenced append that checks it) is the truth.

# KEYS: lease; ARGV: replica, lease_ms
_CLAIM = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
return 1
"""

# KEYS: lease, then (one Redis only) running; ARGV: replica, task id. The task leaves
# `running` either way (a new claim marks it again).
_RELEASE = """
if KEYS[2] then redis.call('ZREM', KEYS[2], ARGV[2]) end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: lease, task; ARGV: replica, lease_ms -> 1 renewed (or taken back), 0 lost
_RENEW = """
local terminal = {TASK_STATE_COMPLETED=1, TASK_STATE_FAILED=1, TASK_STATE_CANCELED=1,
                  TASK_STATE_REJECTED=1}
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder and not terminal[redis.call('HGET', KEYS[2], 'state') or ''] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])  -- expired, nobody took over: take back
  return 1
end
return 0
"""

# KEYS: running; ARGV: limit -> task ids whose lease expiry (by Redis time) has passed
_DUE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[1])
"""

Stop = Callable[[str, str], None]


class Replicas:
    """This replica's side of the leases, the sweeper and the cancel channel."""

    def __init__(self, store: RedisStore, *, lease: float = 10.0, cancel_wait: float = 5.0) -> None:
        self.store = store
        self.keys = store.keys
        self.replica = store.replica
        self.lease_ms = max(100, int(lease * 1000))
        self.cancel_wait = cancel_wait
        redis = store.redis
        self.quotas = Quotas(store, lease_ms=self.lease_ms)  # limits across replicas
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)
        self._due = redis.register_script(_DUE)
        self._mark = redis.register_script(MARK)
        self._tasks: list[asyncio.Task[None]] = []
        self._turns: Callable[[], Collection[str]] = list
        self._stop: Stop = lambda task_id, why: None
        self.swept = 0

    def __repr__(self) -> str:
        return f"<Replicas {self.replica[:8]} lease={self.lease_ms}ms swept={self.swept}>"

    def start(self, turns: Callable[[], Collection[str]], stop: Stop) -> None:
        """Run the heartbeat, the sweeper and the cancel listener. `turns()` are the task ids
        whose turns run here; `stop(task_id, why)` ends one ("cancel": log CANCELED, "lost":
        another replica has written its end, log nothing)."""
        self._turns, self._stop = turns, stop
        for loop in (self._heartbeat, self._sweeper, self._listen):
            self._tasks.append(asyncio.create_task(loop()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.quotas.close()

    # --- leases -------------------------------------------------------------------------

    async def claim(self, task_id: str) -> bool:
        """Take the lease of a turn of `task_id`; False when another turn holds it."""
        with unavailable("claiming a task turn"):
            if not await self._claim(
                keys=[self.keys.lease(task_id)], args=[self.replica, self.lease_ms]
            ):
                return False
            await self._mark(keys=[self.keys.running], args=[self.lease_ms, task_id])
        return True

    async def create(self, record: TaskRecord, body: dict[str, Any]) -> Event:
        """Log a new task's first event and take its turn's lease with it (one script on one
        Redis: `RedisStore.create`). A new task's id was just made by this replica, so no
        other can claim it first: its lease is taken when it is created, not before its
        agent is called (as `claim` does for the next turn of an existing task)."""
        return await self.store.create(record, body, lease_ms=self.lease_ms)

    async def release(self, task_id: str) -> None:
        try:
            keys = [self.keys.lease(task_id)]
            if self.store.cluster:  # `running` is in another slot
                await self.store.redis.zrem(self.keys.running, task_id)
            else:
                keys.append(self.keys.running)
            await self.store.pipelined(self._release, keys, [self.replica, task_id])
        except RedisError as exc:  # the lease expires by itself
            log.warning("could not release the lease of task %s: %s", task_id, exc)

    async def leased(self, task_id: str) -> bool:
        with unavailable("reading a task's lease"):
            return bool(await self.store.redis.exists(self.keys.lease(task_id)))

    async def renew(self) -> list[str]:
        """Renew this replica's leases (one script per task, at once); returns the tasks it
        lost. The renewed ones are scored again in `running`."""
        ids = list(self._turns())
        if not ids:
            return []
        held = await asyncio.gather(
            *(
                self._renew(
                    keys=[self.keys.lease(i), self.keys.task(i)], args=[self.replica, self.lease_ms]
                )
                for i in ids
            )
        )
        kept = [i for i, ok in zip(ids, held, strict=True) if ok]
        if kept:
            await self._mark(keys=[self.keys.running], args=[self.lease_ms, *kept])
        return [i for i, ok in zip(ids, held, strict=True) if not ok]

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                for task_id in await self.renew():
                    log.warning("task %s: this replica lost its lease; stopping the turn", task_id)
                    self._stop(task_id, "lost")
                await self.quotas.renew()
            except (RedisError, RedisClusterException) as exc:
                log.warning("lease heartbeat failed: %s", exc)

    # --- sweeper ------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Fail the non-final tasks whose lease expired; returns how many this call failed."""
        due = await self._due(keys=[self.keys.running], args=[100])
        failed = 0
        for raw in due:
            task_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            record = await self.store.get(task_id)
            if record is None or record.state in FINAL:
                if not await self.leased(task_id):  # a new turn's claim marks it again
                    await self.store.redis.zrem(self.keys.running, task_id)
                continue
            if await self._fail_lost(record):
                failed += 1
        self.swept += failed
        return failed

    async def _fail_lost(self, record: TaskRecord) -> bool:
        message = {
            "messageId": str(uuid.uuid4()),
            "contextId": record.context_id,
            "taskId": record.id,
            "role": "ROLE_AGENT",
            "parts": [{"text": "The gateway replica running this task stopped or lost the store."}],
        }
        error = {
            "code": errors.INTERNAL_ERROR,
            "reason": REPLICA_LOST,
            "message": (
                "The gateway replica running this task stopped, or could not reach the store"
                " for longer than its lease (the lease expired)."
            ),
        }
        body = set_status(record, FAILED, message, time.time(), metadata={"error": error})
        try:
            await self.store.append(record, body, unowned=True)
        except StoreConflict:
            return False  # taken back, or written by another replica first
        log.warning("task %s: its replica was lost; marked FAILED (%s)", record.id, REPLICA_LOST)
        await self._publish(record.id, "lost")
        return True

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 2000 * random.uniform(0.8, 1.2))
            try:
                await self.sweep()
            except (RedisError, RedisClusterException, errors.A2AError) as exc:
                log.warning("lease sweep failed: %s", exc)

    # --- cancel across replicas ---------------------------------------------------------

    async def _publish(self, task_id: str, why: str) -> None:
        with contextlib.suppress(RedisError):
            await self.store.redis.publish(
                self.keys.cancel, orjson.dumps({"task": task_id, "why": why})
            )

    async def lease_left(self, task_id: str) -> float:
        """Seconds until the task's lease expires unless renewed; 0 when there is none."""
        with unavailable("reading a task's lease"):
            ms = await self.store.redis.pttl(self.keys.lease(task_id))
        return max(0.0, ms / 1000) if ms >= 0 else 0.0

    async def cancel_remote(self, record: TaskRecord) -> bool:
        """Ask the replica holding the lease to cancel; True once the task's log has a final
        event, False when the lease went away without one (the caller cancels it then).

        A live owner answers within a round trip. A dead one never does, and its lease lapses
        at most its remaining TTL from now: so this waits for the larger of `cancel_wait`
        and that TTL, checking the lease as it goes, and only an owner that keeps renewing
        its lease without cancelling gets CANCEL_TIMEOUT."""
        reached = asyncio.Event()

        async def watch() -> None:
            async for batch in self.store.follow(record.id, record.last_seq):
                if any(e.final for e in batch):
                    reached.set()
                    return

        watcher = asyncio.create_task(watch())
        left = await self.lease_left(record.id)
        deadline = time.monotonic() + max(self.cancel_wait, left + 0.5)
        try:
            while time.monotonic() < deadline:
                await self._publish(record.id, "cancel")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(1.0, max(0.05, left))):
                        await reached.wait()
                if reached.is_set():
                    return True
                if watcher.done():
                    watcher.result()  # raises what ended it (e.g. STORE_UNAVAILABLE)
                    return False  # the task was deleted
                left = await self.lease_left(record.id)
                if left == 0.0:
                    return reached.is_set()
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        raise errors.internal_error(
            f"Task {record.id}: the replica running it did not confirm the cancel within "
            f"{self.cancel_wait:g} s",
            reason="CANCEL_TIMEOUT",
        )

    async def _listen(self) -> None:
        backoff = 0.05
        while True:
            pubsub: Any = None
            try:
                pubsub = await self.store.subscriber()
                await pubsub.subscribe(self.keys.cancel)
                backoff = 0.05
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._on_message(message)
            except (RedisError, RedisClusterException) as exc:
                log.debug("cancel channel: %s; subscribing again", exc)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(RedisError):
                        await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    def _on_message(self, message: dict[str, Any]) -> None:
        try:
            data = orjson.loads(message["data"])
            task_id, why = str(data["task"]), str(data["why"])
        except (ValueError, KeyError, TypeError):
            return
        if task_id in self._turns():
            self._stop(task_id, why)
