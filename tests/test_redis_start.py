"""How a task starts on the Redis store (one Redis and Cluster): its first event, its turn's
lease, its `running` entry and its ListTasks index entry are written by one script (the index
and `running` before it on Cluster, in their own slots), fenced like any append; and the
stream of the replica that created it starts from what that replica wrote (redis_tail's
seeds), without a first read of Redis, getting every event once. A turn's end gives back its
lease and `running` entry in one script; quota places are counted through the pipeline."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.core import task
from gateway.core.events import Event
from gateway.core.task import TaskRecord
from gateway.stores.cluster import ClusterStore
from gateway.stores.contract import EventsExpired, StoreConflict
from gateway.stores.quotas import Quotas
from gateway.stores.redis import RedisStore
from gateway.stores.replicas import Replicas

pytestmark = pytest.mark.anyio

LEASE_MS = 10_000

MakeStore = Callable[..., RedisStore]


@pytest.fixture(params=["redis", "cluster"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[MakeStore]:
    """Stores (replicas) of one fresh key prefix on the parametrised backend."""
    server = "redis_server" if request.param == "redis" else "redis_cluster"
    url = request.getfixturevalue(server).url
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    made: list[RedisStore] = []

    def make(**options: Any) -> RedisStore:
        kind = ClusterStore if request.param == "cluster" else RedisStore
        store = kind(url, prefix=prefix, **options)
        made.append(store)
        return store

    yield make
    for store in made:
        keys = [k async for k in store.redis.scan_iter(match=prefix + "*")]
        for key in keys:  # one by one: on Cluster they live in many slots
            await store.redis.delete(key)
        await store.close()


def new(task_id: str | None = None) -> TaskRecord:
    return TaskRecord(id=task_id or str(uuid.uuid4()), context_id="c", agent="a", owner="p")


def first_body(record: TaskRecord) -> dict[str, Any]:
    return task.begin_turn(record, {"messageId": "m", "parts": []}, 1.0)


async def append_steps(store: RedisStore, record: TaskRecord, n: int) -> None:
    for i in range(n):
        body = task.set_status(record, "TASK_STATE_WORKING", None, 2.0 + i)
        await store.append(record, body)


async def entries(store: RedisStore, task_id: str) -> int:
    return int(await store.redis.xlen(store.keys.events(task_id)))


async def test_a_new_task_s_lease_running_entry_and_index_come_with_its_first_event(
    make_store: MakeStore,
) -> None:
    store = make_store()
    record = new()
    event = await store.create(record, first_body(record), lease_ms=LEASE_MS)
    assert event.seq == 1
    keys = store.keys
    assert await store.redis.get(keys.lease(record.id)) == store.replica.encode()
    assert 0 < await store.redis.pttl(keys.lease(record.id)) <= LEASE_MS
    assert await store.redis.zscore(keys.running, record.id) is not None
    assert await store.redis.zscore(keys.index("a", "p"), record.id) is not None
    assert await entries(store, record.id) == 1


async def test_a_task_created_without_a_lease_is_indexed_and_not_leased(
    make_store: MakeStore,
) -> None:
    store = make_store()
    record = new()
    await store.create(record, first_body(record))
    assert await store.redis.exists(store.keys.lease(record.id)) == 0
    assert await store.redis.zscore(store.keys.running, record.id) is None
    assert await store.redis.zscore(store.keys.index("a", "p"), record.id) is not None


async def test_a_start_whose_answer_was_lost_is_recognised_on_retry_not_logged_twice(
    make_store: MakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    write = store._write
    calls = 0

    async def lose_first_answer(keys: list[str], args: list[Any], script: Any) -> Any:
        nonlocal calls
        calls += 1
        reply = await write(keys, args, script)
        if calls == 1:
            raise RedisConnectionError("the answer was lost")
        return reply

    monkeypatch.setattr(store, "_write", lose_first_answer)
    record = new()
    event = await store.create(record, first_body(record), lease_ms=LEASE_MS)
    assert (event.seq, calls) == (1, 2)
    assert await entries(store, record.id) == 1
    fresh = await store.get(record.id)
    assert fresh is not None
    assert fresh.last_seq == 1


async def test_a_second_start_of_one_task_is_refused_and_the_first_keeps_its_lease(
    make_store: MakeStore,
) -> None:
    one, other = make_store(), make_store()
    record = new()
    await one.create(record, first_body(record), lease_ms=LEASE_MS)
    again = new(record.id)
    with pytest.raises(KeyError):
        await other.create(again, first_body(again), lease_ms=LEASE_MS)
    assert again.last_seq == 0
    assert await one.redis.get(one.keys.lease(record.id)) == one.replica.encode()
    assert await entries(one, record.id) == 1


async def test_a_start_is_refused_while_another_replica_holds_the_task_s_lease(
    make_store: MakeStore,
) -> None:
    store = make_store()
    record = new()
    await store.redis.set(store.keys.lease(record.id), "another-replica", px=LEASE_MS)
    with pytest.raises(StoreConflict):
        await store.create(record, first_body(record), lease_ms=LEASE_MS)
    assert await store.get(record.id) is None
    assert await store.redis.get(store.keys.lease(record.id)) == b"another-replica"


# --- the creating replica's stream starts from what it wrote --------------------------------


def count_reads(store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The `after` of every read of Redis a follower of `store` makes."""
    reads: list[int] = []
    catch_up = store._catch_up

    async def counted(task_id: str, after: int) -> list[Event] | None:
        reads.append(after)
        return await catch_up(task_id, after)

    monkeypatch.setattr(store, "_catch_up", counted)
    return reads


async def read_until(store: RedisStore, task_id: str, after: int, last: int) -> list[int]:
    seqs: list[int] = []
    async for batch in store.follow(task_id, after):
        seqs += [e.seq for e in batch]
        if seqs[-1] >= last:
            break
    return seqs


async def test_the_creating_replica_s_stream_starts_from_what_it_wrote_and_gets_each_event_once(
    make_store: MakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    reads = count_reads(store, monkeypatch)
    record = new()
    await store.create(record, first_body(record), lease_ms=LEASE_MS)
    await append_steps(store, record, 3)
    stream = store.follow(record.id, 0)
    assert isinstance(stream, AsyncGenerator)
    first = await anext(stream)
    assert [e.seq for e in first] == [1, 2, 3, 4]
    await append_steps(store, record, 2)
    assert [e.seq for e in await anext(stream)] == [5, 6]
    await stream.aclose()
    assert reads == []


async def test_a_seed_is_dropped_once_another_writer_appended(
    make_store: MakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = make_store(), make_store()
    reads = count_reads(mine, monkeypatch)
    record = new()
    await mine.create(record, first_body(record), lease_ms=LEASE_MS)
    theirs = await other.get(record.id)
    assert theirs is not None
    await append_steps(other, theirs, 1)  # seq 2, from another replica
    with pytest.raises(StoreConflict):
        await append_steps(mine, record, 1)  # refused: this replica's record is stale
    assert await read_until(mine, record.id, 0, 2) == [1, 2]
    assert reads[:1] == [0]


async def test_a_seeded_follower_behind_the_retained_events_still_gets_events_expired(
    make_store: MakeStore,
) -> None:
    store = make_store(max_events_per_task=3)
    record = new()
    await store.create(record, first_body(record), lease_ms=LEASE_MS)
    await append_steps(store, record, 5)
    with pytest.raises(EventsExpired):
        await read_until(store, record.id, 0, 6)


# --- and how its turn ends ------------------------------------------------------------------


async def test_a_release_drops_the_lease_and_the_running_entry(make_store: MakeStore) -> None:
    store = make_store()
    replicas = Replicas(store, lease=LEASE_MS / 1000)
    record = new()
    await replicas.create(record, first_body(record))
    await replicas.release(record.id)
    assert await store.redis.exists(store.keys.lease(record.id)) == 0
    assert await store.redis.zscore(store.keys.running, record.id) is None


async def test_a_release_by_another_replica_leaves_the_holder_s_lease(
    make_store: MakeStore,
) -> None:
    holder, other = make_store(), make_store()
    record = new()
    await Replicas(holder, lease=LEASE_MS / 1000).create(record, first_body(record))
    await Replicas(other, lease=LEASE_MS / 1000).release(record.id)
    assert await holder.redis.get(holder.keys.lease(record.id)) == holder.replica.encode()


async def test_a_quota_place_is_refused_when_full_and_free_once_given_back(
    make_store: MakeStore,
) -> None:
    store = make_store()
    quotas = Quotas(store, lease_ms=LEASE_MS)
    key = quotas.turns_key("p")
    assert await quotas.take(key, "a", 1)
    assert not await quotas.take(key, "b", 1)
    quotas.give_back(key, "a")
    await quotas.close()  # waits for the background give-back
    assert await quotas.take(key, "b", 1)
    assert await store.redis.zrange(key, 0, -1) == [b"b"]
