"""Limits that hold across replicas (stores/quotas.py): a principal's running turns and a
task's subscribers are counted in Redis, so two replicas allow what one would; a place is
free again when its turn or stream ends, and a killed replica's places lapse with its lease.
On the private Redis and on the private Redis Cluster (leases of 1 s)."""

from __future__ import annotations

import time
from typing import Any

from tests import a2a, test_replicas
from tests.replicas import Cluster, Reader, wait_state

# test_replicas.py's fixtures: replicas on the private Redis, and on Redis or Redis Cluster
cluster = test_replicas.cluster
everywhere = test_replicas.everywhere


def start(url: str) -> dict[str, Any]:
    """SendMessage of a turn that hangs, answered at once: the task, or the error."""
    params = {"message": a2a.user_message("hang"), "configuration": {"returnImmediately": True}}
    return a2a.rpc(url, "SendMessage", params)


def reason(reply: dict[str, Any]) -> str:
    return str(reply["error"]["data"][0]["reason"])


def started_within(url: str, seconds: float) -> dict[str, Any]:
    """Ask until a turn is accepted (a place given back reaches Redis in the background)."""
    deadline = time.monotonic() + seconds
    while True:
        reply = start(url)
        if "result" in reply or time.monotonic() > deadline:
            return reply
        assert reason(reply) == "TOO_MANY_TASKS", reply
        time.sleep(0.1)


def test_a_principal_s_running_turns_are_counted_across_replicas(everywhere: Cluster) -> None:
    a, b = everywhere.start(2, "--max-tasks", "1")
    task = start(a)["result"]["task"]
    refused = start(b)
    assert reason(refused) == "TOO_MANY_TASKS"
    assert refused["error"]["data"][0]["metadata"] == {"limit": "1"}
    assert reason(start(a)) == "TOO_MANY_TASKS"
    a2a.rpc(b, "CancelTask", {"id": task["id"]})
    wait_state(a, task["id"], {"TASK_STATE_CANCELED"})
    again = started_within(b, 10)
    assert "result" in again, again
    a2a.rpc(b, "CancelTask", {"id": again["result"]["task"]["id"]})


def test_a_task_s_subscribers_are_counted_across_replicas(everywhere: Cluster) -> None:
    a, b = everywhere.start(2, "--max-subscribers-per-task", "2")
    task = start(a)["result"]["task"]
    readers = [Reader(url, "SubscribeToTask", {"id": task["id"]}) for url in (a, b)]
    for reader in readers:
        reader.start()
        reader.wait_for(1)
    for url in (a, b):
        refused = a2a.rpc(url, "SubscribeToTask", {"id": task["id"]})
        assert reason(refused) == "TOO_MANY_SUBSCRIBERS", refused
    a2a.rpc(b, "CancelTask", {"id": task["id"]})
    for reader in readers:
        assert reader.finish()[-1].state == "TASK_STATE_CANCELED"


def test_a_killed_replica_s_places_lapse_with_its_lease(cluster: Cluster) -> None:
    a, b = cluster.start(2, "--max-tasks", "1")
    task = start(a)["result"]["task"]
    assert reason(start(b)) == "TOO_MANY_TASKS"
    cluster.kill(a)
    wait_state(b, task["id"], {"TASK_STATE_FAILED"})  # REPLICA_LOST, after about a lease
    again = started_within(b, 10)
    assert "result" in again, again
    a2a.rpc(b, "CancelTask", {"id": again["result"]["task"]["id"]})
