"""The store contract, one suite run against every backend: MemoryStore, RedisStore (on a
private redis-server) and ClusterStore (on a private 3-primary Redis Cluster). Then what only
a shared store has: several writers, fencing, TTLs."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from gateway.core import errors, task
from gateway.core.events import Event
from gateway.core.task import TaskRecord
from gateway.stores.cluster import ClusterStore
from gateway.stores.contract import (
    EventsExpired,
    Store,
    StoreConflict,
    TaskQuery,
    Until,
    ends_at_final,
    ends_at_terminal,
)
from gateway.stores.memory import MemoryStore
from gateway.stores.redis import RedisStore
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio

MakeStore = Callable[..., Store]


@pytest.fixture(params=["memory", "redis", "cluster"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[MakeStore]:
    """Build stores of the parametrised backend; redis and cluster ones share one fresh key
    prefix."""
    made: list[Store] = []
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    url = ""
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
    elif request.param == "cluster":
        url = request.getfixturevalue("redis_cluster").url

    def make(**limits: Any) -> Store:
        store: Store
        if request.param == "memory":
            store = MemoryStore(**limits)
        elif request.param == "cluster":
            store = ClusterStore(url, prefix=prefix, **limits)
        else:
            store = RedisStore(url, prefix=prefix, **limits)
        made.append(store)
        return store

    yield make
    for store in made:
        if isinstance(store, RedisStore):
            keys = [k async for k in store.redis.scan_iter(match=prefix + "*")]
            for key in keys:  # one by one: on Cluster they live in many slots
                await store.redis.delete(key)
        await store.close()


def new(task_id: str, owner: str = "p", context: str = "c") -> TaskRecord:
    return TaskRecord(id=task_id, context_id=context, agent="a", owner=owner)


async def add(store: Store, task_id: str, updated: float = 0.0, **fields: str) -> TaskRecord:
    record = new(task_id, **fields)
    await store.create(record, task.begin_turn(record, {"messageId": "m", "parts": []}, updated))
    return record


async def working(store: Store, record: TaskRecord, now: float = 1.0) -> Event:
    return await store.append(record, task.set_status(record, task.WORKING, None, now))


async def test_events_are_numbered_from_one(make_store: MakeStore) -> None:
    store = make_store()
    record = await add(store, "t")
    assert (await working(store, record)).seq == 2
    assert record.last_seq == 2


async def test_a_task_id_is_created_once(make_store: MakeStore) -> None:
    store = make_store()
    await add(store, "t")
    with pytest.raises(KeyError):
        await add(store, "t")


async def test_get_is_the_writers_record(make_store: MakeStore) -> None:
    store = make_store(max_events_per_task=6)
    record = await add(store, "t", updated=0.5)
    for i in range(9):
        await store.append(record, task.set_status(record, task.WORKING, None, i, progress=i))
        chunk = {"artifactId": "a", "parts": [{"text": str(i)}]}
        body = task.add_artifact(record, chunk, i + 0.5, append=i > 0, last_chunk=False)
        await store.append(record, body)
        loaded = await store.get("t")
        assert loaded is not None
        assert task.dump(loaded) == task.dump(record)
    await store.append(record, task.set_status(record, task.INPUT_REQUIRED, None, 20.0))
    await store.append(record, task.begin_turn(record, {"messageId": "m2", "parts": []}, 21.0))
    loaded = await store.get("t")
    assert loaded is not None
    assert task.dump(loaded) == task.dump(record)
    assert await store.get("unknown") is None


async def test_follow_yields_waiting_events_in_one_batch_then_live_ones(
    make_store: MakeStore,
) -> None:
    store = make_store()
    record = await add(store, "t")
    for _ in range(3):
        await working(store, record)
    batches: list[list[int]] = []
    first = asyncio.Event()

    async def follower() -> None:
        async for batch in store.follow("t", 0):
            batches.append([e.seq for e in batch])
            first.set()
            if batch[-1].final:
                return

    reader = asyncio.create_task(follower())
    await asyncio.wait_for(first.wait(), 5)
    await store.append(record, task.set_status(record, task.COMPLETED, None, 2.0))
    await asyncio.wait_for(reader, 5)
    assert batches == [[1, 2, 3, 4], [5]]


def statuses(record: TaskRecord, count: int) -> list[tuple[dict[str, Any], float]]:
    """`count` WORKING updates applied to `record`, as (body, time) for append_many."""
    items = []
    for i in range(count):
        body = task.set_status(record, task.WORKING, None, 10.0 + i)
        items.append((body, record.updated))
    return items


async def test_several_events_are_logged_at_once_in_order(make_store: MakeStore) -> None:
    store = make_store(max_events_per_task=50)
    record = await add(store, "t")
    follower = store.follow("t", 0)
    assert [e.seq for e in await anext(follower)] == [1]
    events = await store.append_many(record, statuses(record, 5))
    assert [e.seq for e in events] == [2, 3, 4, 5, 6]
    assert record.last_seq == 6
    seen: list[int] = []
    while len(seen) < 5:
        seen += [e.seq for e in await anext(follower)]
    assert seen == [2, 3, 4, 5, 6]
    await follower.aclose()  # type: ignore[attr-defined]  # an async generator
    assert await store.bounds("t") == (1, 6)
    again = await store.get("t")
    assert again is not None
    assert (again.last_seq, again.updated) == (6, record.updated)


async def test_a_follower_behind_the_retained_window_gets_events_expired(
    make_store: MakeStore,
) -> None:
    store = make_store(max_events_per_task=4)
    record = await add(store, "t")
    for _ in range(10):
        await working(store, record)
    with pytest.raises(EventsExpired) as info:
        async for _ in store.follow("t", 2):
            pass
    assert info.value.oldest == 8
    # the error a stream ends on, naming the task: EVENTS_EXPIRED
    assert isinstance(info.value, errors.A2AError)
    assert info.value.reason == "EVENTS_EXPIRED"
    assert info.value.metadata == {"taskId": "t", "oldestEventId": "8"}
    async for batch in store.follow("t", 7):
        assert [e.seq for e in batch] == [8, 9, 10, 11]
        break


async def test_a_follow_with_an_end_rule_ends_after_the_first_event_it_holds_for(
    make_store: MakeStore,
) -> None:
    store = make_store()
    record = await add(store, "t")
    await working(store, record)
    await store.append(record, task.set_status(record, task.INPUT_REQUIRED, None, 2.0))
    await working(store, record, 3.0)
    await store.append(record, task.set_status(record, task.COMPLETED, None, 4.0))
    await store.append(record, task.set_status(record, task.COMPLETED, None, 5.0))

    async def seqs(until: Until) -> list[int]:
        got: list[int] = []
        async with asyncio.timeout(5):
            async for batch in store.follow("t", 0, until=until):
                got.extend(e.seq for e in batch)
        return got

    assert await seqs(ends_at_final) == [1, 2, 3]  # a turn's stream: the interruption ends it
    assert await seqs(ends_at_terminal) == [1, 2, 3, 4, 5]  # a subscription: the terminal


async def test_bounds_are_the_oldest_retained_and_the_last_seq(make_store: MakeStore) -> None:
    store = make_store(max_events_per_task=4)
    record = await add(store, "t")
    assert await store.bounds("t") == (1, 1)
    for _ in range(9):
        await working(store, record)
    assert await store.bounds("t") == (7, 10)
    assert await store.bounds("unknown") is None


async def test_deleting_a_task_ends_its_followers(make_store: MakeStore) -> None:
    store = make_store()
    await add(store, "t")
    seen: list[int] = []
    first = asyncio.Event()

    async def follower() -> None:
        async for batch in store.follow("t", 0):
            seen.extend(e.seq for e in batch)
            first.set()

    reader = asyncio.create_task(follower())
    await asyncio.wait_for(first.wait(), 5)
    await store.delete("t")
    await asyncio.wait_for(reader, 5)
    assert seen == [1]


async def test_query_is_newest_first_pages_with_a_cursor_and_filters(
    make_store: MakeStore,
) -> None:
    store = make_store()
    for i in range(5):
        await add(store, f"t{i}", updated=float(i), context="even" if i % 2 == 0 else "odd")
    first = await store.query(TaskQuery(owner="p", agent="a", page_size=2))
    assert [r.id for r in first.tasks] == ["t4", "t3"]
    assert first.total_size == 5
    second = await store.query(
        TaskQuery(owner="p", agent="a", page_size=2, page_token=first.next_page_token)
    )
    assert [r.id for r in second.tasks] == ["t2", "t1"]
    third = await store.query(
        TaskQuery(owner="p", agent="a", page_size=2, page_token=second.next_page_token)
    )
    assert [r.id for r in third.tasks] == ["t0"]
    assert third.next_page_token == ""
    even = await store.query(TaskQuery(owner="p", agent="a", context_id="even"))
    assert [r.id for r in even.tasks] == ["t4", "t2", "t0"]
    late = await store.query(TaskQuery(owner="p", agent="a", updated_after=2.0))
    assert [r.id for r in late.tasks] == ["t4", "t3"]
    assert (await store.query(TaskQuery(owner="p", agent="a", state=task.WORKING))).tasks == []
    assert (await store.query(TaskQuery(owner="someone-else", agent="a"))).tasks == []
    with pytest.raises(ValueError, match="not a page token"):
        await store.query(TaskQuery(owner="p", agent="a", page_token="!!!"))


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_finished_tasks_are_evicted_after_their_ttl(make_store: MakeStore) -> None:
    store = make_store(finished_ttl=0.5)
    done = await add(store, "done")
    await add(store, "running")
    waiting = await add(store, "waiting")
    await store.append(done, task.set_status(done, task.COMPLETED, None, 1.0))
    finished = time.monotonic()
    await store.append(waiting, task.set_status(waiting, task.INPUT_REQUIRED, None, 1.0))
    assert await store.get("done") is not None

    async def evicted() -> bool:
        return await store.get("done") is None

    await until(evicted)
    assert time.monotonic() - finished >= 0.45
    assert await store.bounds("done") is None
    assert await store.get("running") is not None
    assert await store.get("waiting") is not None  # interrupted is not finished
    page = await store.query(TaskQuery(owner="p", agent="a"))
    assert sorted(r.id for r in page.tasks) == ["running", "waiting"]


# --- what only a shared store has ------------------------------------------------------------


@pytest.fixture(params=["redis", "cluster"])
async def shared(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two replicas' stores on one Redis (or one Redis Cluster) and one prefix."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    kind: type[RedisStore]
    if request.param == "cluster":
        url, kind = request.getfixturevalue("redis_cluster").url, ClusterStore
    else:
        url, kind = request.getfixturevalue("redis_server").url, RedisStore
    a = kind(url, prefix=prefix, max_events_per_task=100)
    b = kind(url, prefix=prefix, max_events_per_task=100)
    yield a, b
    keys = [k async for k in a.redis.scan_iter(match=prefix + "*")]
    for key in keys:
        await a.redis.delete(key)
    await a.close()
    await b.close()


async def test_a_follower_on_one_replica_gets_the_events_written_on_another(
    shared: tuple[RedisStore, RedisStore],
) -> None:
    a, b = shared
    record = await add(a, "t")
    got: list[int] = []

    async def follower() -> None:
        async for batch in b.follow("t", 0):
            got.extend(e.seq for e in batch)
            if batch[-1].final:
                return

    reader = asyncio.create_task(follower())
    for i in range(20):
        await working(a, record, float(i))
    await a.append(record, task.set_status(record, task.COMPLETED, None, 30.0))
    await asyncio.wait_for(reader, 10)
    assert got == list(range(1, 23))


async def test_a_writer_s_follower_gets_what_another_writer_appends_next(
    shared: tuple[RedisStore, RedisStore],
) -> None:
    """A follows the task it writes (so it does not listen for its own appends: Redis leaves
    the stream out of A's blocking read, a Cluster unsubscribes A from the task's feed); B then
    ends the task: A's follower gets B's event once A stops writing (at most a second)."""
    a, b = shared
    record = await add(a, "t")
    got: list[int] = []

    async def follower() -> None:
        async for batch in a.follow("t", 0):
            got.extend(e.seq for e in batch)
            if batch[-1].final:
                return

    reader = asyncio.create_task(follower())
    for i in range(5):
        await working(a, record, float(i))
    copy = await b.get("t")
    assert copy is not None
    await b.append(copy, task.set_status(copy, task.FAILED, None, 9.0))
    await asyncio.wait_for(reader, 10)
    assert got == list(range(1, 8))


async def test_a_stale_writer_is_refused_and_logs_nothing(
    shared: tuple[RedisStore, RedisStore],
) -> None:
    a, b = shared
    record = await add(a, "t")
    copy = await b.get("t")
    assert copy is not None
    await b.append(copy, task.set_status(copy, task.FAILED, None, 2.0))
    with pytest.raises(StoreConflict):
        await working(a, record)
    assert record.last_seq == 1
    assert await a.bounds("t") == (1, 2)
    again = await a.get("t")
    assert again is not None
    assert again.state == task.FAILED


async def test_a_stale_writer_s_batch_is_refused_whole(
    shared: tuple[RedisStore, RedisStore],
) -> None:
    a, b = shared
    record = await add(a, "t")
    copy = await b.get("t")
    assert copy is not None
    await working(b, copy)
    with pytest.raises(StoreConflict):
        await a.append_many(record, statuses(record, 3))
    assert record.last_seq == 1
    assert await a.bounds("t") == (1, 2)


async def test_an_unowned_write_is_refused_while_a_lease_is_held(
    shared: tuple[RedisStore, RedisStore],
) -> None:
    a, _ = shared
    record = await add(a, "t")
    await a.redis.set(a.keys.lease("t"), "someone", px=10_000)
    with pytest.raises(StoreConflict, match="LEASED"):
        await a.append(record, task.set_status(record, task.CANCELED, None, 2.0), unowned=True)
    await a.redis.delete(a.keys.lease("t"))
    event = await a.append(record, task.set_status(record, task.CANCELED, None, 2.0), unowned=True)
    assert event.seq == 2
    assert event.final
    stored = await a.get("t")
    assert stored is not None
    assert stored.state == task.CANCELED


async def test_logs_are_trimmed_and_finished_tasks_expire_in_redis(
    redis_server: RedisServer,
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    store = RedisStore(redis_server.url, prefix=prefix, max_events_per_task=50, finished_ttl=60)
    try:
        record = await add(store, "t")
        for i in range(1000):
            await working(store, record, float(i))
        length = await store.redis.xlen(store.keys.events("t"))
        assert 50 <= length < 300
        assert await store.redis.pttl(store.keys.task("t")) == -1  # running: kept
        await store.append(record, task.set_status(record, task.COMPLETED, None, 2000.0))
        for key in (store.keys.task("t"), store.keys.events("t")):
            assert 59_000 < await store.redis.pttl(key) <= 60_000
        loaded = await store.get("t")
        assert loaded is not None
        assert loaded.state == task.COMPLETED
        assert loaded.last_seq == 1002
    finally:
        keys = [k async for k in store.redis.scan_iter(match=prefix + "*")]
        await store.redis.delete(*keys)
        await store.close()


async def test_a_growing_record_is_checkpointed_by_size_and_still_rebuilt(
    redis_server: RedisServer,
) -> None:
    """A long artifact makes the record grow with every event: checkpoints follow the bytes
    logged (a logarithmic number of them, not one every K events), and `get` (checkpoint plus
    the events after it) is still the writer's record, at every step."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    store = RedisStore(
        redis_server.url, prefix=prefix, max_events_per_task=1000, checkpoint_every=20
    )
    stored: list[int] = []
    try:
        record = await add(store, "t")
        for i in range(1200):
            chunk = {"artifactId": "a", "parts": [{"text": f"{i:04d}" + "x" * 196}]}
            body = task.add_artifact(record, chunk, float(i), append=i > 0, last_chunk=False)
            await store.append(record, body)
            cseq = await store.redis.hget(store.keys.task("t"), "cseq")
            if not stored or int(cseq) != stored[-1]:
                stored.append(int(cseq))
            if i % 97 == 0:
                loaded = await store.get("t")
                assert loaded is not None
                assert task.dump(loaded) == task.dump(record)
        # every 20 events would be 61; by size: 1, 21, 41, 68, 112, 184, 302, 495, 811
        assert stored[:2] == [1, 21]
        assert len(stored) <= 12, stored
        gaps = [b - a for a, b in itertools.pairwise(stored)]
        assert max(gaps) <= 500  # half the retained events at most
        await store.append(record, task.set_status(record, task.COMPLETED, None, 2000.0))
        assert int(await store.redis.hget(store.keys.task("t"), "cseq")) == record.last_seq
        loaded = await store.get("t")
        assert loaded is not None
        assert task.dump(loaded) == task.dump(record)
    finally:
        keys = [k async for k in store.redis.scan_iter(match=prefix + "*")]
        await store.redis.delete(*keys)
        await store.close()
