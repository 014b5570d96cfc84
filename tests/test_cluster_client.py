"""The cluster store's client waits for a free connection instead of failing: more reads at
once than its connections (a hundred subscribers of one task reading it together) all
succeed, on a real 3-primary cluster."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.core import task
from gateway.core.task import TaskRecord
from gateway.stores.cluster import ClusterStore
from gateway.stores.cluster_client import BoundedCluster, BoundedPipeline
from tests.redis_server import RedisCluster

pytestmark = pytest.mark.anyio


async def test_more_reads_at_once_than_connections_all_succeed(
    redis_cluster: RedisCluster,
) -> None:
    store = ClusterStore(
        redis_cluster.url, prefix=f"bounded-{uuid.uuid4().hex[:8]}:", max_connections=4
    )
    try:
        record = TaskRecord(id="t", context_id="c", agent="a", owner="p")
        await store.create(record, task.begin_turn(record, {"messageId": "m", "parts": []}, 0.0))
        read = await asyncio.gather(*(store.get("t") for _ in range(100)))
        assert all(r is not None and r.id == "t" for r in read)
        client = store.redis
        assert isinstance(client, BoundedCluster)
        assert all(len(node._connections) <= 8 for node in client.get_nodes())  # 2 x 4
    finally:
        await store.close()


async def test_a_command_that_waits_too_long_for_a_connection_is_a_connection_error(
    redis_cluster: RedisCluster,
) -> None:
    client = BoundedCluster.from_url(redis_cluster.url, max_connections=1, queue_wait=0.2)
    assert isinstance(client, BoundedCluster)
    try:
        await client.in_flight.acquire()  # the one command slot is taken
        with pytest.raises(RedisConnectionError, match="no free connection"):
            await client.ping()
        client.in_flight.release()
        assert await client.ping()
    finally:
        await client.aclose()


async def test_more_pipelines_at_once_than_connections_all_succeed(
    redis_cluster: RedisCluster,
) -> None:
    """A pipeline (ListTasks reads the listed tasks' fields in one) runs on one permit."""
    client = BoundedCluster.from_url(redis_cluster.url, max_connections=2, queue_wait=5.0)
    assert isinstance(client, BoundedCluster)
    keys = [f"bounded-{uuid.uuid4().hex[:8]}:{n}" for n in range(6)]  # in several slots
    try:
        for key in keys:
            await client.set(key, key)

        async def read_all() -> list[bytes]:
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                return list(await pipe.execute())

        reads = await asyncio.gather(*(read_all() for _ in range(50)))
        assert all(read == [key.encode() for key in keys] for read in reads)
        assert all(len(node._connections) <= 4 for node in client.get_nodes())  # 2 x 2
        listed = ClusterStore(redis_cluster.url, prefix=f"bounded-{uuid.uuid4().hex[:8]}:")
        try:  # and the store's ListTasks goes through it
            assert isinstance(listed.redis.pipeline(transaction=False), BoundedPipeline)
        finally:
            await listed.close()
    finally:
        for key in keys:
            await client.delete(key)
        await client.aclose()
