"""One behavioural suite, run against every store backend (memory and Redis): a real gateway
process per backend, real HTTP and SSE. What a client sees must not depend on the backend."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import a2a
from tests.conftest import Backend
from tests.servers import Process


@pytest.fixture
def url(backend_gateway: Process) -> str:
    return backend_gateway.address + "/agents/scripted/"


def get(url: str, task_id: str) -> dict[str, Any]:
    return a2a.rpc(url, "GetTask", {"id": task_id})


def wait_state(url: str, task_id: str, state: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    task: dict[str, Any] = {}
    while time.monotonic() < deadline:
        task = get(url, task_id)["result"]
        if task["status"]["state"] == state:
            return task
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} is {task.get('status')}, not {state}")


def resume(url: str, task_id: str, last: int, **kwargs: Any) -> list[a2a.SseEvent]:
    headers = {"Last-Event-ID": str(last)}
    return a2a.stream(url, "SubscribeToTask", {"id": task_id}, headers=headers, **kwargs)


def test_a_stream_is_numbered_and_the_task_is_readable(url: str) -> None:
    events = a2a.send_stream(url, "steps 5")
    assert a2a.ids(events) == list(range(1, 11))
    assert events[-1].state == "TASK_STATE_COMPLETED"
    task = get(url, events[0].result["task"]["id"])["result"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"][0]["parts"] == [{"text": f"part{i};"} for i in range(3)]
    assert task["metadata"] == {"progress": 100}
    assert [m["role"] for m in task["history"]] == ["ROLE_USER", *["ROLE_AGENT"] * 5]


def test_send_message_waits_for_the_final_state(url: str) -> None:
    result = a2a.rpc(url, "SendMessage", {"message": a2a.user_message("steps 3 20")})["result"]
    assert result["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


def test_list_tasks_pages_and_filters(url: str) -> None:
    context = f"ctx-{time.monotonic_ns()}"
    ids = [
        a2a.send_stream(url, "steps 1", contextId=context)[0].result["task"]["id"] for _ in "abc"
    ]
    waiting = a2a.send_stream(url, "ask", contextId=context)[0].result["task"]["id"]
    first = a2a.rpc(url, "ListTasks", {"contextId": context, "pageSize": 3})["result"]
    assert [t["id"] for t in first["tasks"]] == [waiting, *reversed(ids[1:])]
    assert first["totalSize"] == 4
    params = {"contextId": context, "pageSize": 3, "pageToken": first["nextPageToken"]}
    second = a2a.rpc(url, "ListTasks", params)["result"]
    assert [t["id"] for t in second["tasks"]] == [ids[0]]
    assert second["nextPageToken"] == ""
    asking = {"contextId": context, "status": "TASK_STATE_INPUT_REQUIRED"}
    assert [t["id"] for t in a2a.rpc(url, "ListTasks", asking)["result"]["tasks"]] == [waiting]


def test_resume_replays_exactly_the_rest_then_goes_live(url: str) -> None:
    first = a2a.stream(
        url, "SendStreamingMessage", {"message": a2a.user_message("steps 10 40")}, limit=4
    )
    task_id = first[0].result["task"]["id"]
    rest = resume(url, task_id, 4)
    assert a2a.ids(rest) == list(range(5, 16))
    assert rest[-1].state == "TASK_STATE_COMPLETED"
    whole = resume(url, task_id, 0)
    assert [e.result for e in whole] == [e.result for e in first + rest]


def test_resume_refuses_ids_this_task_never_had(url: str) -> None:
    short = a2a.send_stream(url, "steps 1")[0].result["task"]["id"]
    body = a2a.request("SubscribeToTask", {"id": short})
    response = httpx.post(
        url, json=body, headers={**a2a.V1, "Last-Event-ID": "40"}, timeout=30
    ).json()
    assert response["error"]["code"] == -32602
    assert "Last-Event-ID" in response["error"]["message"]


def test_cancel_stops_the_agent_call_and_ends_the_streams(url: str, tmp_path: Path) -> None:
    marker = tmp_path / "cancelled"
    task = a2a.start_task(url, f"hang {marker}")
    wait_state(url, task["id"], "TASK_STATE_WORKING")
    result = a2a.rpc(url, "CancelTask", {"id": task["id"]})["result"]
    assert result["status"]["state"] == "TASK_STATE_CANCELED"
    replay = resume(url, task["id"], 1)
    assert replay[-1].state == "TASK_STATE_CANCELED"
    deadline = time.monotonic() + 5
    while not marker.exists():
        assert time.monotonic() < deadline, "the agent's call was not cancelled"
        time.sleep(0.02)
    again = a2a.rpc(url, "CancelTask", {"id": task["id"]})["error"]
    assert again["code"] == -32002


def test_cancel_a_task_waiting_for_input(url: str) -> None:
    task_id = a2a.send_stream(url, "ask")[0].result["task"]["id"]
    result = a2a.rpc(url, "CancelTask", {"id": task_id})["result"]
    assert result["status"]["state"] == "TASK_STATE_CANCELED"


def test_multi_turn_continues_the_task(url: str) -> None:
    first = a2a.send_stream(url, "ask")
    task_id = first[-1].result["statusUpdate"]["taskId"]
    assert first[-1].state == "TASK_STATE_INPUT_REQUIRED"
    second = a2a.send_stream(url, "more", taskId=task_id)
    assert a2a.ids(second)[0] == a2a.ids(first)[-1] + 1
    assert second[-1].state == "TASK_STATE_COMPLETED"
    assert "history has 2 messages" in str(second[1].result)
    task = get(url, task_id)["result"]
    assert len(task["history"]) == 4


def test_a_running_task_refuses_a_second_turn(url: str) -> None:
    task = a2a.start_task(url, "hang")
    message = a2a.user_message("x", taskId=task["id"])
    assert a2a.rpc(url, "SendMessage", {"message": message})["error"]["code"] == -32004
    a2a.rpc(url, "CancelTask", {"id": task["id"]})


def test_the_readiness_names_the_store(url: str, backend: Backend) -> None:
    ready = httpx.get(url.split("/agents/")[0] + "/readyz", timeout=10).json()
    assert ready["store"]["backend"] == {"cluster": "redis-cluster"}.get(backend.name, backend.name)
    assert ready["store"]["status"] == "ok"


def test_retention_limits_apply_the_same_way(backend: Backend, scripted_agent: Process) -> None:
    gateway = backend.gateway(scripted_agent, "--task-ttl", "1", "--max-events-per-task", "5")
    url = gateway.address + "/agents/scripted/"
    try:
        done = a2a.send_stream(url, "steps 8")
        task_id = done[0].result["task"]["id"]
        expired = httpx.post(
            url,
            json=a2a.request("SubscribeToTask", {"id": task_id}),
            headers={**a2a.V1, "Last-Event-ID": "2"},
            timeout=30,
        ).json()["error"]
        assert expired["data"][0]["reason"] == "EVENTS_EXPIRED"
        assert a2a.ids(resume(url, task_id, 10)) == [11, 12, 13]
        running = a2a.start_task(url, "hang")
        deadline = time.monotonic() + 10
        while "result" in get(url, task_id):
            assert time.monotonic() < deadline, "the finished task was not evicted"
            time.sleep(0.05)
        assert get(url, task_id)["error"]["code"] == -32001
        assert get(url, running["id"])["result"]["status"]["state"] == "TASK_STATE_WORKING"
        a2a.rpc(url, "CancelTask", {"id": running["id"]})
    finally:
        gateway.stop()
