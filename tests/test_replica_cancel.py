"""CancelTask on a replica for a task whose owner was just killed: the task ends CANCELED as
soon as the dead owner's lease lapses (bounded by the lease), never CANCEL_TIMEOUT."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests import a2a
from tests.redis_server import RedisServer
from tests.replicas import Cluster
from tests.servers import Process

LEASE = 7.0  # longer than the 5 s a live owner gets to confirm: the case that timed out


@pytest.fixture
def cluster(redis_server: RedisServer, scripted_agent: Process) -> Iterator[Cluster]:
    replicas = Cluster(redis_server, scripted_agent)
    yield replicas
    replicas.stop_all()


def test_cancel_after_the_owner_died_returns_canceled_once_its_lease_lapses(
    cluster: Cluster,
) -> None:
    a, b = cluster.start(2, "--lease", str(LEASE))  # the later flag wins over the default 1 s
    task = a2a.start_task(a, "hang")
    cluster.kill(a)
    asked = time.monotonic()
    reply = a2a.rpc(b, "CancelTask", {"id": task["id"]})
    took = time.monotonic() - asked
    assert "result" in reply, reply
    assert reply["result"]["status"]["state"] == "TASK_STATE_CANCELED"
    # Bounded by the lease (at most LEASE after the owner's last renewal); the margin up to a
    # second lease is for a loaded 2-core machine, where a sweep or a poll can run late.
    assert took < 2 * LEASE, f"answered after {took:.1f}s"
    state = a2a.rpc(b, "GetTask", {"id": task["id"]})["result"]["status"]["state"]
    assert state == "TASK_STATE_CANCELED"
