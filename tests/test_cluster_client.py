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
from gateway.stores.cluster_client import BoundedCluster
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
