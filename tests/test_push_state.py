"""The push state contract (gateway/push/state.py) on Redis, in-process against the private
redis-server: one holder per config, fenced cursors, take-over after a lapsed claim, limits.
The memory backend's share of the contract (no claims to contend) is checked alongside."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest
import redis.asyncio as aioredis

from gateway.push.configs import DONE, FAILING, Cursor, Failure, PushConfig
from gateway.push.redis import RedisPushState
from gateway.push.state import GONE, LOST, MemoryPushState, TooMany
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio


def config(task_id: str, config_id: str = "c", url: str = "https://h.example/") -> PushConfig:
    return PushConfig(task_id, config_id, url, token="t", scheme="Bearer", credentials="x")


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(redis_server.url)
    yield redis
    await redis.aclose()


def pair(client: aioredis.Redis, lease: float = 0.3) -> tuple[RedisPushState, RedisPushState]:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    return (
        RedisPushState(client, prefix=prefix, replica="a", lease=lease),
        RedisPushState(client, prefix=prefix, replica="b", lease=lease),
    )


async def test_one_replica_holds_a_config_and_only_it_moves_the_cursor(
    client: aioredis.Redis,
) -> None:
    a, b = pair(client, lease=5)
    stored = await a.put(config("t1"), Cursor(0), limit=10)
    assert stored == Cursor(0)
    assert await a.claim("t1", "c")
    assert not await b.claim("t1", "c")
    assert await b.advance(config("t1"), Cursor(3)) == LOST
    assert await b.current("t1", "c") == LOST
    assert await a.advance(config("t1"), Cursor(3)) == 1
    found = await b.get("t1", "c")
    assert found is not None
    assert found[1].acked == 3
    assert repr(found[0]) == "<PushConfig task=t1 id=c scheme=Bearer>"  # no secrets


async def test_a_lapsed_claim_is_due_and_taken_over_from_the_cursor(client: aioredis.Redis) -> None:
    a, b = pair(client, lease=0.2)
    await a.put(config("t2"), Cursor(0), limit=10)
    assert await a.claim("t2", "c")
    await a.advance(config("t2"), Cursor(5))
    deadline = time.monotonic() + 10
    while ("t2", "c") not in await b.due():
        assert time.monotonic() < deadline, "the lapsed claim never became due"
        await anyio.sleep(0.02)
    # `due` is a hint (the score is the lease's expiry as of the last renewal); the claim decides
    while not await b.claim("t2", "c"):
        assert time.monotonic() < deadline, "the lapsed claim was never taken over"
        await anyio.sleep(0.02)
    assert await a.current("t2", "c") == LOST
    found = await b.get("t2", "c")
    assert found is not None
    assert found[1].acked == 5


async def test_renew_keeps_claims_and_reports_lost_ones(client: aioredis.Redis) -> None:
    a, b = pair(client, lease=5)
    await a.put(config("t3"), Cursor(0), limit=10)
    await a.claim("t3", "c")
    assert await a.renew([("t3", "c")]) == []
    assert await b.renew([("t3", "c")]) == [("t3", "c")]


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_limits_replacement_and_deletion(client: aioredis.Redis, backend: str) -> None:
    state = MemoryPushState() if backend == "memory" else pair(client)[0]
    for index in range(2):
        await state.put(config("t4", f"c{index}"), Cursor(0), limit=2)
    with pytest.raises(TooMany):
        await state.put(config("t4", "c9"), Cursor(0), limit=2)
    assert await state.claim("t4", "c0")
    failure = Failure("HTTP_STATUS", "404", 4, "2026-12-02T00:00:00.000Z", 404)
    assert await state.advance(config("t4", "c0"), Cursor(3, False, FAILING, failure)) >= 1
    assert not await state.claim("t4", "c0")  # a failing config is not delivered
    replaced = await state.put(config("t4", "c0", url="https://new.example/"), Cursor(0), limit=2)
    assert replaced == Cursor(3)  # the cursor stays; the config is active again
    assert await state.current("t4", "c0") in (2, LOST)  # version 2 (redis: not claimed)
    found = await state.get("t4", "c0")
    assert found is not None
    assert found[0].url == "https://new.example/"
    assert await state.count("t4") == 2
    assert await state.delete("t4", "c0")
    assert not await state.delete("t4", "c0")
    assert await state.current("t4", "c0") == GONE
    assert await state.advance(config("t4", "c0"), Cursor(9)) == GONE
    assert [c.id for c, _ in await state.configs("t4")] == ["c1"]


async def test_a_done_config_is_no_longer_due(client: aioredis.Redis) -> None:
    a, b = pair(client, lease=0.1)
    await a.put(config("t5"), Cursor(0), limit=10)
    await a.claim("t5", "c")
    await a.advance(config("t5"), Cursor(7, state=DONE))
    await a.release("t5", "c")
    assert ("t5", "c") not in await b.due()
    assert not await b.claim("t5", "c")


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_a_done_config_replaced_stays_done(client: aioredis.Redis, backend: str) -> None:
    state = MemoryPushState() if backend == "memory" else pair(client)[0]
    await state.put(config("t6"), Cursor(0), limit=10)
    assert await state.claim("t6", "c")
    await state.advance(config("t6"), Cursor(8, state=DONE))
    replaced = await state.put(config("t6", url="https://other.example/"), Cursor(0), limit=10)
    assert replaced.state == DONE  # nothing more will happen to a finished task
    assert not await state.claim("t6", "c")
