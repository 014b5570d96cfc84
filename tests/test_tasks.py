"""SendMessage, GetTask, ListTasks, CancelTask and multi-turn over real sockets."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from tests import a2a
from tests.servers import Process


@pytest.fixture
def url(gateway: Process) -> str:
    return gateway.address + "/agents/scripted/"


def send(url: str, text: str, **configuration: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"message": a2a.user_message(text)}
    if configuration:
        params["configuration"] = configuration
    return a2a.rpc(url, "SendMessage", params)


def test_send_message_waits_for_the_final_state_by_default(url: str) -> None:
    task = send(url, "steps 3 20")["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    artifact = task["artifacts"][0]
    assert [p["text"] for p in artifact["parts"]] == ["part0;", "part1;", "part2;"]
    assert task["metadata"]["progress"] == 100


def test_send_message_return_immediately_returns_a_running_task(url: str) -> None:
    task = send(url, "hang", returnImmediately=True)["result"]["task"]
    assert task["status"]["state"] in ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING")
    a2a.rpc(url, "CancelTask", {"id": task["id"]})


def test_history_length_limits_history(url: str) -> None:
    task = send(url, "steps 3", historyLength=0)["result"]["task"]
    assert "history" not in task
    full = a2a.rpc(url, "GetTask", {"id": task["id"]})["result"]
    assert len(full["history"]) == 4  # the user message and three status messages
    one = a2a.rpc(url, "GetTask", {"id": task["id"], "historyLength": 1})["result"]
    assert one["history"] == full["history"][-1:]


def test_get_unknown_task_is_task_not_found(url: str) -> None:
    error = a2a.rpc(url, "GetTask", {"id": "nope"})["error"]
    assert error["code"] == -32001
    assert error["data"][0]["reason"] == "TASK_NOT_FOUND"


def test_the_root_serves_the_first_agent_and_its_tasks(gateway: Process, url: str) -> None:
    """The root is the same (first) agent, so it sees the task; that another agent does not
    is test_multi_agent.py's test_a_task_is_reachable_only_through_its_agent."""
    task = send(url, "steps 1")["result"]["task"]
    assert "result" in a2a.rpc(gateway.address + "/", "GetTask", {"id": task["id"]})
    unknown = httpx.post(
        gateway.address + "/agents/nobody/", json=a2a.request("GetTask", {"id": task["id"]})
    )
    assert unknown.status_code == 404


def test_list_tasks_filters_by_context_and_state_and_pages(url: str) -> None:
    context = "ctx-list-test"
    ids = [send(url, "steps 1", **{})["result"]["task"]["id"] for _ in range(0)]
    for _ in range(5):
        params = {"message": a2a.user_message("steps 1", contextId=context)}
        ids.append(a2a.rpc(url, "SendMessage", params)["result"]["task"]["id"])
    page1 = a2a.rpc(url, "ListTasks", {"contextId": context, "pageSize": 2})["result"]
    assert page1["totalSize"] == 5
    assert page1["pageSize"] == 2
    assert len(page1["tasks"]) == 2
    assert page1["nextPageToken"]
    seen = [t["id"] for t in page1["tasks"]]
    token = page1["nextPageToken"]
    while token:
        page = a2a.rpc(url, "ListTasks", {"contextId": context, "pageSize": 2, "pageToken": token})
        seen += [t["id"] for t in page["result"]["tasks"]]
        token = page["result"]["nextPageToken"]
    assert sorted(seen) == sorted(ids)
    assert seen == list(reversed(ids))  # most recently updated first
    assert all("artifacts" not in t for t in page1["tasks"])
    with_artifacts = a2a.rpc(
        url, "ListTasks", {"contextId": context, "includeArtifacts": True, "historyLength": 0}
    )["result"]
    assert all("artifacts" in t and "history" not in t for t in with_artifacts["tasks"])
    failed = a2a.rpc(url, "ListTasks", {"contextId": context, "status": "TASK_STATE_FAILED"})
    assert failed["result"]["tasks"] == []
    assert failed["result"]["nextPageToken"] == ""


def test_list_tasks_rejects_a_page_token_it_did_not_issue(url: str) -> None:
    error = a2a.rpc(url, "ListTasks", {"pageToken": "garbage!"})["error"]
    assert error["code"] == -32602
    assert "pageToken" in error["message"]


def test_cancel_running_task_records_canceled_and_ends_its_streams(url: str) -> None:
    task = send(url, "hang", returnImmediately=True)["result"]["task"]
    events: list[a2a.SseEvent] = []  # filled by the subscriber as its events arrive
    thread = threading.Thread(
        target=a2a.stream,
        args=(url, "SubscribeToTask", {"id": task["id"]}),
        kwargs={"into": events},
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not events:  # the subscriber has joined: its first event, the snapshot, is in
        assert time.monotonic() < deadline, "the subscriber did not join"
        time.sleep(0.02)
    assert events[0].kind == "task"
    canceled = a2a.rpc(url, "CancelTask", {"id": task["id"]})["result"]
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    thread.join(10)
    assert not thread.is_alive(), "the subscriber's stream did not end"
    assert events[-1].state == "TASK_STATE_CANCELED"
    again = a2a.rpc(url, "CancelTask", {"id": task["id"]})["error"]
    assert again["code"] == -32002


def test_cancel_finished_task_is_not_cancelable(url: str) -> None:
    task = send(url, "steps 1")["result"]["task"]
    error = a2a.rpc(url, "CancelTask", {"id": task["id"]})["error"]
    assert error["code"] == -32002
    assert "COMPLETED" in error["message"]


def test_multi_turn_continues_a_task_waiting_for_input(url: str) -> None:
    first = a2a.send_stream(url, "ask")
    assert first[-1].state == "TASK_STATE_INPUT_REQUIRED"
    task = first[0].result["task"]
    second = a2a.stream(
        url,
        "SendStreamingMessage",
        {"message": a2a.user_message("blue", taskId=task["id"], contextId=task["contextId"])},
    )
    assert second[0].kind == "task"
    assert second[0].state == "TASK_STATE_SUBMITTED"
    assert int(second[0].id or 0) == int(first[-1].id or 0) + 1
    assert second[-1].state == "TASK_STATE_COMPLETED"
    working = second[1].result["statusUpdate"]["status"]["message"]["parts"][0]["text"]
    assert working == "history has 2 messages"
    final = a2a.rpc(url, "GetTask", {"id": task["id"]})["result"]
    assert [m["role"] for m in final["history"]] == [
        "ROLE_USER",
        "ROLE_AGENT",
        "ROLE_USER",
        "ROLE_AGENT",
    ]
    again = a2a.rpc(url, "SendMessage", {"message": a2a.user_message("more", taskId=task["id"])})[
        "error"
    ]
    assert again["code"] == -32004


def test_message_to_a_running_task_is_refused(url: str) -> None:
    task = send(url, "hang", returnImmediately=True)["result"]["task"]
    error = a2a.rpc(url, "SendMessage", {"message": a2a.user_message("x", taskId=task["id"])})[
        "error"
    ]
    assert error["code"] == -32004
    a2a.rpc(url, "CancelTask", {"id": task["id"]})


def test_context_mismatch_is_invalid_params(url: str) -> None:
    task = send(url, "ask")["result"]["task"]
    params = {"message": a2a.user_message("x", taskId=task["id"], contextId="other")}
    error = a2a.rpc(url, "SendMessage", params)["error"]
    assert error["code"] == -32602
    assert "message.contextId" in error["message"]


def test_message_naming_an_unknown_task_is_task_not_found(url: str) -> None:
    error = a2a.rpc(url, "SendMessage", {"message": a2a.user_message("x", taskId="nope")})["error"]
    assert error["code"] == -32001


def test_direct_reply_returns_a_message(url: str) -> None:
    message = send(url, "reply hi")["result"]["message"]
    assert message["parts"] == [{"text": "direct hi"}]
    assert message["contextId"]


def test_principal_reaches_the_agent_in_the_request_and_as_metadata(url: str) -> None:
    task = send(url, "caller")["result"]["task"]
    text = task["status"]["message"]["parts"][0]["text"]
    assert text == "principal=anonymous header=anonymous"


def test_push_config_methods_on_an_unknown_task_are_task_not_found(url: str) -> None:
    for method in ("GetTaskPushNotificationConfig", "DeleteTaskPushNotificationConfig"):
        error = a2a.rpc(url, method, {"taskId": "x", "id": "y"})["error"]
        assert error["code"] == -32001


def test_extended_card_is_unsupported(url: str) -> None:
    assert a2a.rpc(url, "GetExtendedAgentCard", {})["error"]["code"] == -32004
