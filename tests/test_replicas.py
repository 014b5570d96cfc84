"""Several gateway processes on one Redis: any replica serves any call, a dead replica's turns
are failed by the others, and nothing is lost or repeated when a replica or Redis goes away.

Every group of replicas has a key prefix of its own on a private redis-server (the core ones
also on a private Redis Cluster: the `everywhere` fixture); leases are 1 s
so a lost replica is detected within a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import a2a
from tests.redis_server import RedisServer, start_redis
from tests.replicas import Cluster, Reader, assert_one_clean_log, get, resume, wait_state
from tests.servers import ROOT, Process
from tests.workers_proc import served_by, worker_pids


@pytest.fixture
def cluster(redis_server: RedisServer, scripted_agent: Process) -> Iterator[Cluster]:
    replicas = Cluster(redis_server, scripted_agent)
    yield replicas
    replicas.stop_all()


@pytest.fixture(params=["redis", "cluster"])
def everywhere(request: pytest.FixtureRequest, scripted_agent: Process) -> Iterator[Cluster]:
    """Replicas on the private Redis, then on the private Redis Cluster."""
    server = request.getfixturevalue(
        "redis_server" if request.param == "redis" else "redis_cluster"
    )
    replicas = Cluster(server, scripted_agent)
    yield replicas
    replicas.stop_all()


def test_stream_on_one_replica_resume_on_another_with_exact_ids(everywhere: Cluster) -> None:
    a, b, c = everywhere.start(3)
    first = a2a.stream(
        a, "SendStreamingMessage", {"message": a2a.user_message("steps 20 30")}, limit=5
    )
    task_id = first[0].result["task"]["id"]
    rest = resume(b, task_id, 5)
    assert a2a.ids(rest) == list(range(6, 26))
    assert rest[-1].state == "TASK_STATE_COMPLETED"
    assert [e.result for e in resume(c, task_id, 0)] == [e.result for e in first + rest]
    task = get(c, task_id)["result"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    listed = a2a.rpc(b, "ListTasks", {"contextId": task["contextId"]})["result"]["tasks"]
    assert [t["id"] for t in listed] == [task_id]


def test_live_subscribers_on_every_replica_get_the_same_events(everywhere: Cluster) -> None:
    a, b, c = everywhere.start(3)
    task = a2a.start_task(a, "steps 30 30")
    readers = [Reader(url, "SubscribeToTask", {"id": task["id"]}, last=0) for url in (a, b, c)]
    for reader in readers:
        reader.start()
    logs = [reader.finish() for reader in readers]
    assert a2a.ids(logs[0]) == list(range(1, 36))
    assert [e.result for e in logs[1]] == [e.result for e in logs[0]]
    assert [e.result for e in logs[2]] == [e.result for e in logs[0]]


def test_cancel_on_another_replica_stops_the_agent_call_promptly(
    everywhere: Cluster, tmp_path: Path
) -> None:
    a, b = everywhere.start(2)
    marker = tmp_path / "cancelled"
    task = a2a.start_task(a, f"hang {marker}")
    wait_state(b, task["id"], {"TASK_STATE_WORKING"})
    watcher = Reader(a, "SubscribeToTask", {"id": task["id"]})
    watcher.start()
    watcher.wait_for(1)
    started = time.monotonic()
    result = a2a.rpc(b, "CancelTask", {"id": task["id"]})["result"]
    assert result["status"]["state"] == "TASK_STATE_CANCELED"
    assert time.monotonic() - started < 5.0  # within the cancel timeout (it would fail past it)
    deadline = time.monotonic() + 3
    while not marker.exists():
        assert time.monotonic() < deadline, "the agent's call on replica A was not cancelled"
        time.sleep(0.02)
    assert watcher.finish()[-1].state == "TASK_STATE_CANCELED"
    assert_one_clean_log(b, task["id"])


def test_a_second_turn_may_run_on_another_replica(everywhere: Cluster) -> None:
    a, b = everywhere.start(2)
    first = a2a.send_stream(a, "ask")
    task_id = first[0].result["task"]["id"]
    second = a2a.send_stream(b, "yes", taskId=task_id)
    assert second[-1].state == "TASK_STATE_COMPLETED"
    assert a2a.ids(second)[0] == a2a.ids(first)[-1] + 1
    assert len(get(a, task_id)["result"]["history"]) == 4


def test_a_killed_replica_s_tasks_fail_and_clients_resume_elsewhere(everywhere: Cluster) -> None:
    """The issue's "done when": a client streams from A, A is killed (-9), the client resumes
    on B with Last-Event-ID and gets every remaining event exactly once, ending in FAILED."""
    a, b = everywhere.start(2)
    client = Reader(a, "SendStreamingMessage", {"message": a2a.user_message("steps 400 50")})
    client.start()
    client.wait_for(5)
    task_id = client.events[0].result["task"]["id"]
    live_on_b = Reader(b, "SubscribeToTask", {"id": task_id})
    live_on_b.start()
    live_on_b.wait_for(1)
    everywhere.kill(a)
    killed = time.monotonic()
    seen = client.finish(dropped=True)
    last = int(seen[-1].id or 0)
    rest = resume(b, task_id, last)
    assert time.monotonic() - killed < 8.0, "the lost turn was not failed within the bound"
    assert a2a.ids(rest) == list(range(last + 1, last + 1 + len(rest)))
    final = rest[-1]
    assert final.state == "TASK_STATE_FAILED"
    error = final.result["statusUpdate"]["metadata"]["error"]
    assert error["reason"] == "REPLICA_LOST"
    assert live_on_b.finish()[-1].result == final.result
    assert get(b, task_id)["result"]["status"]["state"] == "TASK_STATE_FAILED"
    log = assert_one_clean_log(b, task_id)
    assert [e.result for e in log] == [e.result for e in seen + rest]


def test_a_restarted_gateway_still_has_its_tasks(cluster: Cluster) -> None:
    prefix = f"test-{time.monotonic_ns()}:"
    (a,) = cluster.start(1, prefix=prefix)
    done = a2a.send_stream(a, "steps 3")
    done_id = done[0].result["task"]["id"]
    asking_id = a2a.send_stream(a, "ask")[0].result["task"]["id"]
    cluster.process(a).stop()
    (again,) = cluster.start(1, prefix=prefix)
    assert get(again, done_id)["result"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [e.result for e in resume(again, done_id, 0)] == [e.result for e in done]
    listed = a2a.rpc(again, "ListTasks", {})["result"]["tasks"]
    assert {t["id"] for t in listed} == {done_id, asking_id}
    assert a2a.send_stream(again, "yes", taskId=asking_id)[-1].state == "TASK_STATE_COMPLETED"


def test_a_graceful_shutdown_loses_nothing(cluster: Cluster) -> None:
    """A replica stopping (SIGTERM) ends its streams; their clients resume on another replica
    (the stream began with a `retry:` hint) and get the rest, exactly once."""
    a, b = cluster.start(2)
    task = a2a.start_task(b, "steps 150 40")
    client = Reader(a, "SubscribeToTask", {"id": task["id"]}, last=0)
    client.start()
    client.wait_for(5)
    cluster.process(a).stop()
    seen = client.finish()
    assert seen[-1].state != "TASK_STATE_COMPLETED", "the stream outlived its replica"
    rest = resume(b, task["id"], int(seen[-1].id or 0))
    assert a2a.ids(seen + rest) == list(range(1, 156))
    assert rest[-1].state == "TASK_STATE_COMPLETED"


def test_a_replica_clock_skewed_by_an_hour_neither_fails_live_turns_nor_misses_dead_ones(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Lease expiry is decided by Redis alone, so skewed replicas agree with the others."""
    skew = tmp_path / "skew"
    skew.mkdir()
    (skew / "sitecustomize.py").write_text(
        "import time\n_real = time.time\ntime.time = lambda: _real() + 3600\n"
    )
    prefix = f"test-{time.monotonic_ns()}:"
    (a,) = cluster.start(1, prefix=prefix)
    env = {"PYTHONPATH": f"{skew}{os.pathsep}{ROOT}"}
    (ahead,) = cluster.start(1, prefix=prefix, env=env)
    assert a2a.rpc(ahead, "GetTask", {"id": "x"})["error"]["code"] == -32001
    events = a2a.send_stream(a, "steps 40 100")  # 4 s: several leases long
    assert events[-1].state == "TASK_STATE_COMPLETED"
    hung = a2a.start_task(a, "hang")
    cluster.kill(a)
    failed = wait_state(ahead, hung["id"], {"TASK_STATE_FAILED"}, timeout=8)
    assert "stopped" in failed["status"]["message"]["parts"][0]["text"]


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A private, persistent redis-server this test may stop, pause and restart."""
    try:
        server = start_redis(persistent=True)
    except LookupError as exc:
        pytest.skip(str(exc))
    yield server
    server.close()


def test_redis_restarted_mid_stream_loses_and_repeats_nothing(
    cluster: Cluster, own_redis: RedisServer
) -> None:
    a, b = cluster.start(2, redis=own_redis)
    client = Reader(a, "SendStreamingMessage", {"message": a2a.user_message("steps 60 40")})
    client.start()
    client.wait_for(10)
    own_redis.stop()
    own_redis.start()
    task_id = client.events[0].result["task"]["id"]
    seen = client.finish()
    wait_state(b, task_id, {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED"})
    log = assert_one_clean_log(b, task_id)
    ids = [int(e.id) for e in seen if e.id]
    assert ids == list(range(1, len(ids) + 1))
    assert [e.result for e in log[: len(ids)]] == [e.result for e in seen if e.id]
    assert log[-1].state == "TASK_STATE_COMPLETED"  # a short outage is ridden out


def test_redis_paused_for_2_s_mid_stream_delays_but_ends_no_stream(
    cluster: Cluster, own_redis: RedisServer
) -> None:
    """A slow Redis (stopped for 2 s, under the 3 s the writes and followers wait) is waited
    out: the stream on A and a follower on B both get every event once, and it completes. (A
    lease of 10 s: a pause longer than the lease rightly fails the turn, REPLICA_LOST.)"""
    a, b = cluster.start(2, "--lease", "10", redis=own_redis)
    client = Reader(a, "SendStreamingMessage", {"message": a2a.user_message("steps 80 20")})
    client.start()
    client.wait_for(5)
    task_id = client.events[0].result["task"]["id"]
    follower = Reader(b, "SubscribeToTask", {"id": task_id}, last=0)
    follower.start()
    follower.wait_for(5)
    own_redis.pause()
    try:
        time.sleep(2.0)  # the fault itself: Redis stopped for 2 s, not a readiness wait
    finally:
        own_redis.resume()
    seen = client.finish(timeout=60)
    assert a2a.ids(seen) == list(range(1, len(seen) + 1))
    assert seen[-1].state == "TASK_STATE_COMPLETED"
    assert [e.result for e in follower.finish(timeout=60)] == [e.result for e in seen]


def test_redis_away_fails_fast_with_a_clear_error_and_recovers(
    cluster: Cluster, own_redis: RedisServer
) -> None:
    (a,) = cluster.start(1, redis=own_redis)
    base = a.split("/agents/")[0]
    task_id = a2a.send_stream(a, "steps 1")[0].result["task"]["id"]
    own_redis.pause()
    try:
        started = time.monotonic()
        error = get(a, task_id)["error"]
        assert time.monotonic() - started < 10.0  # a clear error, not the 30 s client timeout
        assert error["code"] == -32603
        assert error["data"][0]["reason"] == "STORE_UNAVAILABLE"
        ready = httpx.get(base + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["store"]["status"] == "unavailable"
        refused = a2a.rpc(a, "SendMessage", {"message": a2a.user_message("steps 1")})["error"]
        assert refused["data"][0]["reason"] == "STORE_UNAVAILABLE"
    finally:
        own_redis.resume()
    deadline = time.monotonic() + 10
    while httpx.get(base + "/readyz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the gateway did not recover"
        time.sleep(0.05)
    assert get(a, task_id)["result"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert a2a.send_stream(a, "steps 2")[-1].state == "TASK_STATE_COMPLETED"


def test_workers_share_one_port_as_replicas(cluster: Cluster, tmp_path: Path) -> None:
    (url,) = cluster.start(1, "--workers", "2")
    workers = worker_pids(url, cluster.process(url), 2)
    task_id = a2a.start_task(url, "hang")["id"]
    # Which worker accepts a connection is the kernel's choice: open connections (a bounded
    # number) until each worker has served a call on the task the other one may have started.
    served: set[int] = set()
    for _ in range(200):
        served.add(served_by(url, task_id, workers))
        if served == set(workers):
            break
    assert served == set(workers), f"only {served} of the workers {workers} served a call"
    a2a.rpc(url, "CancelTask", {"id": task_id})
    for _ in range(3):
        first = a2a.stream(
            url, "SendStreamingMessage", {"message": a2a.user_message("steps 8 20")}, limit=3
        )
        rest = resume(url, first[0].result["task"]["id"], 3)
        assert a2a.ids(first + rest) == list(range(1, 14))
        hung = a2a.start_task(url, "hang")
        cancel = a2a.rpc(url, "CancelTask", {"id": hung["id"]})["result"]
        assert cancel["status"]["state"] == "TASK_STATE_CANCELED"


def test_workers_are_refused_without_a_shared_store() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--agent", "a=127.0.0.1:1", "--workers", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "listen.workers" in done.stderr
    assert "shared store" in done.stderr


def test_redis_timing_out_mid_stream_fails_the_task_and_leaves_a_clean_log(
    cluster: Cluster, own_redis: RedisServer
) -> None:
    """Redis stops answering (SIGSTOP) for longer than a turn can wait: the open stream ends
    with STORE_UNAVAILABLE, the turn fails once Redis answers again, nothing stays WORKING."""
    a, b = cluster.start(2, redis=own_redis)
    client = Reader(a, "SendStreamingMessage", {"message": a2a.user_message("steps 400 20")})
    client.start()
    client.wait_for(5)
    own_redis.pause()
    paused = time.monotonic()
    try:
        seen = client.finish(timeout=30)
        # The fault lasts longer than a write retries (RedisStore.retry_for, 3 s): a reader
        # may give up sooner, and resuming then would let the turn go on and complete.
        time.sleep(max(0.0, paused + 4.5 - time.monotonic()))
    finally:
        own_redis.resume()
    error = seen[-1].data["error"]  # an event without an id: httpx-sse repeats the last id
    assert error["data"][0]["reason"] == "STORE_UNAVAILABLE"
    task_id = seen[0].result["task"]["id"]
    failed = wait_state(b, task_id, {"TASK_STATE_FAILED"}, timeout=15)
    reason = failed["status"]["message"]["parts"][0]["text"]
    assert "stopped" in reason or "unavailable" in reason
    log = assert_one_clean_log(b, task_id)
    logged = [e for e in seen if "result" in e.data]
    assert [e.result for e in log[: len(logged)]] == [e.result for e in logged]
