"""The cluster client the cluster store uses: redis-py's `RedisCluster`, whose commands wait
for a free connection instead of failing when too many are in flight.

redis-py's cluster client opens at most `max_connections` connections per node and, past
them, raises `MaxConnectionsError` at once (with no message). The single-node store's pool
waits for a free connection instead (redis.py: a `BlockingConnectionPool`), and so must this
one: a hundred subscribers of one task read it at the same moment (`make bench`, fan-out), and
each of those reads would otherwise fail with STORE_UNAVAILABLE although Redis is fine.
`BoundedCluster` lets at most `max_connections` of our commands be in flight at once, each
holding one connection of the node it goes to; a command waits up to `queue_wait` seconds
for its turn, then fails as the single-node pool does (a `ConnectionError`:
STORE_UNAVAILABLE). The client's own housekeeping takes connections from the same per-node
pools beside them (a slot map refresh asks a node for `CLUSTER SLOTS` while our commands hold
every permit: seen in `make bench`'s fan-out), so each node's pool is twice that size. A
pipeline (ListTasks reads every listed task's fields in one) takes one permit while it runs:
it holds at most one connection per node.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError


class BoundedCluster(RedisCluster):
    """`RedisCluster` with at most `max_connections` commands in flight (see the module)."""

    def __init__(self, *, max_connections: int, queue_wait: float, **kwargs: Any) -> None:
        # Each node's pool: twice the commands in flight, for the client's own (see above).
        super().__init__(max_connections=2 * max_connections, **kwargs)
        self.in_flight = asyncio.Semaphore(max_connections)
        self.queue_wait = queue_wait

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """One permit to use connections, waited for up to `queue_wait` seconds."""
        try:
            async with asyncio.timeout(self.queue_wait):
                await self.in_flight.acquire()
        except TimeoutError:
            raise RedisConnectionError(
                f"no free connection to the cluster within {self.queue_wait:g}s"
            ) from None
        try:
            yield
        finally:
            self.in_flight.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        if shard_hint:  # as RedisCluster.pipeline refuses it
            return super().pipeline(transaction, shard_hint)
        return BoundedPipeline(self, transaction)  # type: ignore[abstract]  # as redis-py does


class BoundedPipeline(ClusterPipeline):
    """A cluster pipeline that runs on one permit of its client (see the module)."""

    def __init__(self, client: BoundedCluster, transaction: bool | None = None) -> None:
        super().__init__(client, transaction)
        self.bounded = client

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        async with self.bounded.turn():
            return await super().execute(raise_on_error, allow_redirections)
