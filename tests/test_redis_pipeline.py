"""The pipelined connection of the Redis store's appends (stores/redis_pipeline.py), on the
private redis-server: every call gets its own reply, in any number at once; an error reply
fails its call alone; a lost connection or a late reply fails what was in flight and the next
call connects again; a script Redis forgot is sent whole."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.stores.redis_pipeline import Pipeline, pack
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(redis_server.url)
    yield redis
    await redis.aclose()


def pipeline(redis: aioredis.Redis, timeout: float = 1.0) -> Pipeline:
    pool = redis.connection_pool

    def connection() -> object:
        return pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})

    return Pipeline(connection, timeout=timeout)


def test_commands_are_packed_as_resp_arrays() -> None:
    packed = b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$3\r\n1.5\r\n"
    assert pack([b"SET", "k", 12, 1.5]) == packed
    assert pack(["é"]) == b"*1\r\n$2\r\n\xc3\xa9\r\n"


async def test_every_call_gets_its_own_reply(client: aioredis.Redis) -> None:
    pipe = pipeline(client)
    try:
        replies = await asyncio.gather(*(pipe.call(b"ECHO", f"call {i}") for i in range(300)))
        assert replies == [f"call {i}".encode() for i in range(300)]
        key = f"test-{uuid.uuid4().hex}"
        counts = await asyncio.gather(*(pipe.call(b"INCR", key) for _ in range(50)))
        assert sorted(counts) == list(range(1, 51))
        await client.delete(key)
    finally:
        await pipe.close()


async def test_an_error_reply_fails_its_call_alone(client: aioredis.Redis) -> None:
    pipe = pipeline(client)
    try:
        calls = [pipe.call(b"ECHO", "a"), pipe.call(b"NOSUCHCOMMAND"), pipe.call(b"ECHO", "b")]
        first, failed, last = await asyncio.gather(*calls, return_exceptions=True)
        assert (first, last) == (b"a", b"b")
        assert isinstance(failed, ResponseError)
    finally:
        await pipe.close()


async def test_a_lost_connection_fails_what_was_in_flight_then_connects_again(
    client: aioredis.Redis,
) -> None:
    pipe = pipeline(client, timeout=10.0)
    key = f"test-{uuid.uuid4().hex}"
    try:
        conn_id = await pipe.call(b"CLIENT", b"ID")
        blocked = asyncio.create_task(pipe.call(b"BLPOP", key, 5))
        waiting = asyncio.create_task(pipe.call(b"ECHO", "after"))
        for _ in range(250):  # until Redis has the BLPOP
            clients = {int(c["id"]): c["cmd"] for c in await client.client_list()}
            if clients.get(conn_id) == "blpop":
                break
            await asyncio.sleep(0.02)
        await client.client_kill_filter(_id=conn_id)
        for call in (blocked, waiting):
            with pytest.raises(RedisConnectionError):
                await call
        assert await pipe.call(b"ECHO", "again") == b"again"
        assert await pipe.call(b"CLIENT", b"ID") != conn_id
    finally:
        await pipe.close()


async def test_a_late_reply_times_out_and_the_next_call_connects_again(
    client: aioredis.Redis,
) -> None:
    pipe = pipeline(client, timeout=0.3)
    try:
        with pytest.raises(RedisTimeoutError):
            await pipe.call(b"BLPOP", f"test-{uuid.uuid4().hex}", 3)
        assert await pipe.call(b"ECHO", "again") == b"again"
    finally:
        await pipe.close()


async def test_a_script_redis_forgot_is_sent_whole(client: aioredis.Redis) -> None:
    pipe = pipeline(client)
    source = "return 'script ' .. ARGV[1]"
    script = client.register_script(source)
    try:
        await client.script_flush()
        assert await pipe.script(script.sha, source, [], ["one"]) == b"script one"
        assert await pipe.script(script.sha, source, [], ["two"]) == b"script two"
    finally:
        await pipe.close()


async def test_a_closed_pipeline_refuses_calls(client: aioredis.Redis) -> None:
    pipe = pipeline(client)
    assert await pipe.call(b"PING") in (b"PONG", True)
    await pipe.close()
    with pytest.raises(RedisConnectionError):
        await pipe.call(b"PING")
