"""Ownership with auth on: another principal cannot see, cancel, list, continue or subscribe to a
task, and gets exactly what a task that does not exist gives."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests import a2a
from tests.conftest import api_key, bearer, make_token
from tests.servers import Process

ALICE = api_key("alice")
BOB = api_key("bob")


@pytest.fixture
def url(auth_gateway: Process) -> str:
    return auth_gateway.address + "/agents/scripted/"


def send(url: str, text: str, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    params = {"message": a2a.user_message(text, **extra), "configuration": {}}
    return a2a.rpc(url, "SendMessage", params, headers=headers)


def post(url: str, method: str, params: dict[str, Any], headers: dict[str, str]) -> str:
    """The raw response text (streaming methods answer errors as plain JSON)."""
    response = httpx.post(
        url,
        json=a2a.request(method, params, request_id=1),
        headers={**a2a.V1, **headers},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.text


def attempts(task: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    task_id = task["id"]
    follow_up = a2a.user_message("more", taskId=task_id)
    return {
        "GetTask": ("GetTask", {"id": task_id}),
        "CancelTask": ("CancelTask", {"id": task_id}),
        "SubscribeToTask": ("SubscribeToTask", {"id": task_id}),
        "SendMessage": ("SendMessage", {"message": follow_up}),
        "SendStreamingMessage": ("SendStreamingMessage", {"message": follow_up}),
    }


def test_another_principal_gets_task_not_found_everywhere(url: str) -> None:
    asking = send(url, "ask", ALICE)["result"]["task"]  # INPUT_REQUIRED: open to follow-ups
    running = a2a.rpc(
        url,
        "SendMessage",
        {"message": a2a.user_message("hang"), "configuration": {"returnImmediately": True}},
        headers=ALICE,
    )["result"]["task"]
    try:
        for task in (asking, running):
            ghost = str(uuid.uuid4())
            for name, (method, params) in attempts(task).items():
                text = post(url, method, params, BOB)
                ghost_params = attempts({"id": ghost})[name][1]
                ghost_text = post(url, method, ghost_params, BOB)
                # Same answer as for a task that never existed, ids aside.
                assert text.replace(task["id"], "ID") == ghost_text.replace(ghost, "ID"), name
                assert '"code":-32001' in text, name
                assert task["contextId"] not in text, name
                assert "TASK_STATE" not in text, name
        # ... and nothing happened to alice's tasks.
        mine = a2a.rpc(url, "GetTask", {"id": running["id"]}, headers=ALICE)["result"]
        assert mine["status"]["state"] == "TASK_STATE_WORKING"
        asked = a2a.rpc(url, "GetTask", {"id": asking["id"]}, headers=ALICE)["result"]
        assert asked["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        assert len(asked["history"]) == 1
    finally:
        a2a.rpc(url, "CancelTask", {"id": running["id"]}, headers=ALICE)


def test_list_tasks_lists_only_the_callers_own(url: str) -> None:
    context = f"ctx-{uuid.uuid4()}"
    alice_ids = {send(url, "steps 1", ALICE, contextId=context)["result"]["task"]["id"]}
    carol = bearer(make_token("carol"))
    carol_ids = {send(url, "steps 1", carol, contextId=context)["result"]["task"]["id"]}
    for headers, expected in ((ALICE, alice_ids), (carol, carol_ids), (BOB, set())):
        page = a2a.rpc(url, "ListTasks", {"contextId": context}, headers=headers)["result"]
        assert {t["id"] for t in page["tasks"]} == expected
        assert page["totalSize"] == len(expected)


def test_the_same_principal_by_either_scheme_is_the_same_owner(url: str) -> None:
    """A JWT whose subject is "alice" and alice's API key name the same principal."""
    task = send(url, "steps 1", ALICE)["result"]["task"]
    got = a2a.rpc(url, "GetTask", {"id": task["id"]}, headers=bearer(make_token("alice")))
    assert got["result"]["id"] == task["id"]


def test_each_principal_reaches_the_agent_as_itself(url: str) -> None:
    for headers, name in ((ALICE, "alice"), (BOB, "bob"), (bearer(make_token("dave")), "dave")):
        task = send(url, "caller", headers)["result"]["task"]
        assert task["status"]["message"]["parts"][0]["text"] == f"principal={name} header={name}"
