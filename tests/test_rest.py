"""The HTTP+JSON/REST binding on the wire (A2A v1.0 section 11), against a real gateway.

Same methods as JSON-RPC, so these tests check the binding: paths, verbs, query params,
bodies, error bodies and SSE framing, and that a task is one task whichever binding speaks
to it (ids, events and resume are shared).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests import a2a
from tests.servers import Process, start_gateway

TIMEOUT = 30.0
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
FINAL = {
    "TASK_STATE_COMPLETED",
    "TASK_STATE_FAILED",
    "TASK_STATE_CANCELED",
    "TASK_STATE_REJECTED",
    "TASK_STATE_INPUT_REQUIRED",
    "TASK_STATE_AUTH_REQUIRED",
}


@pytest.fixture
def base(gateway: Process) -> str:
    return f"{gateway.address}/agents/scripted"


def send_body(text: str, **configuration: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"message": a2a.user_message(text)}
    if configuration:
        body["configuration"] = configuration
    return body


def stream(
    url: str,
    body: Any = None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    limit: int | None = None,
) -> list[tuple[str | None, str, dict[str, Any]]]:
    """(id, event type, data) of each SSE event, at most `limit`, then disconnect."""
    out: list[tuple[str | None, str, dict[str, Any]]] = []
    with (
        httpx.Client(timeout=TIMEOUT) as client,
        connect_sse(client, method, url, json=body, headers=headers or {}) as source,
    ):
        assert source.response.status_code == 200, source.response.read()
        for sse in source.iter_sse():
            out.append((sse.id or None, sse.event, json.loads(sse.data)))
            if limit is not None and len(out) >= limit:
                break
    return out


def kinds(events: list[tuple[str | None, str, dict[str, Any]]]) -> list[str]:
    lines = []
    for _, _, data in events:
        kind = next(iter(data))
        value = data[kind]
        if kind == "task":
            lines.append(f"task {value['status']['state']}")
        elif kind == "statusUpdate":
            lines.append(f"status {value['status']['state']}")
        else:
            lines.append(kind)
    return lines


def wait_final(base: str, task_id: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Poll GetTask (with a deadline) until the task is terminal or interrupted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task: dict[str, Any] = httpx.get(f"{base}/tasks/{task_id}", timeout=TIMEOUT).json()
        if task["status"]["state"] in FINAL:
            return task
        time.sleep(0.02)
    raise TimeoutError(f"task {task_id} did not finish within {timeout}s")


def error_of(response: httpx.Response, status: int, reason: str) -> dict[str, Any]:
    """The google.rpc.Status body of `response`, checked against `status` and `reason`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/a2a+json")
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == status
    assert isinstance(error["message"], str)
    assert isinstance(error["status"], str)
    info = error["details"][0]
    assert info["@type"] == ERROR_INFO
    assert info["domain"] == "a2a-protocol.org"
    assert info["reason"] == reason, error
    return error


def test_send_message_returns_the_final_task(base: str) -> None:
    response = httpx.post(
        base + "/message:send",
        json=send_body("steps 2"),
        headers={"Content-Type": "application/a2a+json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/a2a+json"
    task = response.json()["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [p["text"] for p in task["artifacts"][0]["parts"]] == ["part0;", "part1;", "part2;"]


def test_a_client_that_asks_for_application_json_gets_it(base: str) -> None:
    response = httpx.post(
        base + "/message:send",
        json=send_body("reply hi"),
        headers={"Accept": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["message"]["parts"] == [{"text": "direct hi"}]


def test_stream_events_carry_sequence_ids(base: str) -> None:
    events = stream(base + "/message:stream", send_body("steps 2"))
    assert kinds(events) == [
        "task TASK_STATE_SUBMITTED",
        "status TASK_STATE_WORKING",
        "status TASK_STATE_WORKING",
        *["artifactUpdate"] * 3,
        "status TASK_STATE_COMPLETED",
    ]
    assert [e[0] for e in events] == [str(i) for i in range(1, 8)]
    assert {e[1] for e in events} == {"message"}


def test_direct_reply_streams_one_event_without_id(base: str) -> None:
    events = stream(base + "/message:stream", send_body("reply hi"))
    assert [(e[0], kinds([e])) for e in events] == [(None, ["message"])]


def test_get_task_with_history_length(base: str) -> None:
    task = a2a.start_task(base + "/", "steps 3")
    wait_final(base, task["id"])
    response = httpx.get(f"{base}/tasks/{task['id']}?historyLength=1", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["id"] == task["id"]
    assert got["status"]["state"] == "TASK_STATE_COMPLETED"
    assert len(got["history"]) == 1
    full = httpx.get(f"{base}/tasks/{task['id']}", timeout=TIMEOUT).json()
    assert len(full["history"]) == 4


def test_list_tasks_takes_its_query_params(base: str) -> None:
    context = a2a.user_message("x")["messageId"]
    ids = []
    for text in ("steps 1", "ask"):
        body = {"message": a2a.user_message(text, contextId=context)}
        ids.append(httpx.post(base + "/message:send", json=body, timeout=TIMEOUT).json())
    task_ids = {r["task"]["id"] for r in ids}
    listed = httpx.get(
        base + "/tasks",
        params={"contextId": context, "pageSize": "1", "includeArtifacts": "true"},
        timeout=TIMEOUT,
    ).json()
    assert listed["pageSize"] == 1
    assert listed["totalSize"] == 2
    assert len(listed["tasks"]) == 1
    assert listed["nextPageToken"]
    second = httpx.get(
        base + "/tasks",
        params={"contextId": context, "pageSize": "1", "pageToken": listed["nextPageToken"]},
        timeout=TIMEOUT,
    ).json()
    assert {listed["tasks"][0]["id"], second["tasks"][0]["id"]} == task_ids
    waiting = httpx.get(
        base + "/tasks",
        params={"contextId": context, "status": "TASK_STATE_INPUT_REQUIRED"},
        timeout=TIMEOUT,
    ).json()
    assert [t["status"]["state"] for t in waiting["tasks"]] == ["TASK_STATE_INPUT_REQUIRED"]


def test_bad_query_params_are_invalid_params_naming_each(base: str) -> None:
    response = httpx.get(
        base + "/tasks",
        params={"pageSize": "ten", "includeArtifacts": "yes", "historyLength": "-1"},
        timeout=TIMEOUT,
    )
    error = error_of(response, 400, "INVALID_PARAMS")
    fields = {v["field"] for v in error["details"][1]["fieldViolations"]}
    assert fields == {"pageSize", "includeArtifacts"}
    response = httpx.get(base + "/tasks?historyLength=-1", timeout=TIMEOUT)
    error = error_of(response, 400, "INVALID_PARAMS")
    assert error["details"][1]["fieldViolations"][0]["field"] == "historyLength"
    response = httpx.get(base + "/tasks?pageSize=1&pageSize=2", timeout=TIMEOUT)
    assert "more than once" in error_of(response, 400, "INVALID_PARAMS")["message"]


def test_cancel_without_a_body_ends_the_stream_with_canceled(base: str) -> None:
    task = a2a.start_task(base + "/", "hang")
    url = f"{base}/tasks/{task['id']}:subscribe"
    seen: list[dict[str, Any]] = []
    with httpx.Client(timeout=TIMEOUT) as client, connect_sse(client, "POST", url) as source:
        for sse in source.iter_sse():
            seen.append(json.loads(sse.data))
            if len(seen) == 1:  # subscribed: the snapshot is in
                response = httpx.post(f"{base}/tasks/{task['id']}:cancel", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json()["status"]["state"] == "TASK_STATE_CANCELED"
    assert seen[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_CANCELED"
    again = httpx.post(f"{base}/tasks/{task['id']}:cancel", json={}, timeout=TIMEOUT)
    error_of(again, 400, "TASK_NOT_CANCELABLE")


def test_a_body_id_that_contradicts_the_path_is_invalid_params(base: str) -> None:
    response = httpx.post(f"{base}/tasks/abc:cancel", json={"id": "xyz"}, timeout=TIMEOUT)
    error = error_of(response, 400, "INVALID_PARAMS")
    assert error["details"][1]["fieldViolations"][0]["field"] == "id"


def test_subscribe_by_get_as_in_the_proto_binding(base: str) -> None:
    task = a2a.start_task(base + "/", "hang")
    url = f"{base}/tasks/{task['id']}:subscribe"
    seen: list[tuple[str | None, dict[str, Any]]] = []
    with httpx.Client(timeout=TIMEOUT) as client, connect_sse(client, "GET", url) as source:
        for sse in source.iter_sse():
            seen.append((sse.id or None, json.loads(sse.data)))
            if len(seen) == 1:  # subscribed: the snapshot is in
                httpx.post(f"{base}/tasks/{task['id']}:cancel", timeout=TIMEOUT)
    snapshot, last = seen[0][1], seen[-1][1]
    assert snapshot["task"]["status"]["state"] in ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING")
    assert last["statusUpdate"]["status"]["state"] == "TASK_STATE_CANCELED"
    ids = [int(i or 0) for i, _ in seen]
    assert ids == sorted(ids)


def test_subscribe_to_a_finished_task_is_unsupported_operation(base: str) -> None:
    task = a2a.start_task(base + "/", "steps 1")
    wait_final(base, task["id"])
    response = httpx.post(f"{base}/tasks/{task['id']}:subscribe", timeout=TIMEOUT)
    error_of(response, 400, "UNSUPPORTED_OPERATION")


def test_cross_binding_create_rest_stream_jsonrpc_resume_rest(base: str) -> None:
    """One task, three bindings' views: the same event ids and the same contents."""
    rest_head = stream(base + "/message:stream", send_body("steps 6 100"), limit=2)
    task_id = rest_head[0][2]["task"]["id"]
    jsonrpc = a2a.stream(
        base + "/",
        "SubscribeToTask",
        {"id": task_id},
        headers={"Last-Event-ID": "0"},
    )
    resumed = stream(
        f"{base}/tasks/{task_id}:subscribe",
        headers={"Last-Event-ID": rest_head[-1][0] or ""},
    )
    full = [(e.id, e.result) for e in jsonrpc]
    assert [int(i or 0) for i, _ in full] == list(range(1, len(full) + 1))
    assert [(i, d) for i, _, d in rest_head] == full[:2]
    assert [(i, d) for i, _, d in resumed] == full[2:]
    assert kinds(resumed)[-1] == "status TASK_STATE_COMPLETED"


def test_resume_after_the_last_event_of_a_finished_task_is_nothing_to_replay(
    base: str,
) -> None:
    events = stream(base + "/message:stream", send_body("steps 1"))
    task_id = events[0][2]["task"]["id"]
    last = events[-1][0] or ""
    response = httpx.post(
        f"{base}/tasks/{task_id}:subscribe", headers={"Last-Event-ID": last}, timeout=TIMEOUT
    )
    error_of(response, 400, "NOTHING_TO_REPLAY")
    response = httpx.post(
        f"{base}/tasks/{task_id}:subscribe", headers={"Last-Event-ID": "x"}, timeout=TIMEOUT
    )
    error_of(response, 400, "INVALID_PARAMS")


def test_tenant_form_of_every_path(base: str) -> None:
    body = httpx.post(base + "/acme/message:send", json=send_body("steps 1"), timeout=TIMEOUT)
    assert body.status_code == 200, body.text
    task_id = body.json()["task"]["id"]
    got = httpx.get(f"{base}/acme/tasks/{task_id}", timeout=TIMEOUT)
    assert got.json()["id"] == task_id
    listed = httpx.get(f"{base}/acme/tasks", timeout=TIMEOUT)
    assert listed.status_code == 200
    # The default agent answers at the root, with and without a tenant.
    root = httpx.get(f"{base.rsplit('/agents', 1)[0]}/acme/tasks/{task_id}", timeout=TIMEOUT)
    assert root.json()["id"] == task_id


ERROR_TABLE = [
    # (verb, path after the agent prefix, body, HTTP status, reason)
    ("GET", "/tasks/no-such-task", None, 404, "TASK_NOT_FOUND"),
    ("POST", "/tasks/no-such-task:cancel", None, 404, "TASK_NOT_FOUND"),
    ("POST", "/tasks/no-such-task:subscribe", None, 404, "TASK_NOT_FOUND"),
    ("POST", "/message:send", b"not json", 400, "PARSE_ERROR"),
    ("POST", "/message:send", b"[1, 2]", 400, "INVALID_REQUEST"),
    ("POST", "/message:send", b"", 400, "INVALID_PARAMS"),
    ("POST", "/message:send", b'{"message": {"role": "ROLE_USER"}}', 400, "INVALID_PARAMS"),
    ("POST", "/message:stream", b"{", 400, "PARSE_ERROR"),
    ("GET", "/extendedAgentCard", None, 400, "UNSUPPORTED_OPERATION"),
    ("GET", "/tasks/x:bogus", None, 404, "ROUTE_NOT_FOUND"),
    ("GET", "/message:sendx", None, 404, "ROUTE_NOT_FOUND"),
    ("POST", "/tasks/a/b/c", None, 404, "ROUTE_NOT_FOUND"),
    ("PUT", "/message:send", None, 405, "METHOD_NOT_ALLOWED"),
    ("GET", "/message:stream", None, 405, "METHOD_NOT_ALLOWED"),
    ("DELETE", "/tasks/abc", None, 405, "METHOD_NOT_ALLOWED"),
    ("GET", "/tasks/abc:cancel", None, 405, "METHOD_NOT_ALLOWED"),
    ("PATCH", "/tasks", None, 405, "METHOD_NOT_ALLOWED"),
]


@pytest.mark.parametrize(
    ("verb", "path", "body", "status", "reason"),
    ERROR_TABLE,
    ids=[f"{v} {p} {b!r}"[:60] for v, p, b, _, _ in ERROR_TABLE],
)
def test_error_table(
    base: str, verb: str, path: str, body: bytes | None, status: int, reason: str
) -> None:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    response = httpx.request(verb, base + path, content=body, headers=headers, timeout=TIMEOUT)
    error_of(response, status, reason)
    if status == 405:
        assert response.headers["allow"]


def test_405_names_every_verb_of_the_path(base: str) -> None:
    response = httpx.put(f"{base}/tasks/t1/pushNotificationConfigs", timeout=TIMEOUT)
    error_of(response, 405, "METHOD_NOT_ALLOWED")
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_unknown_agent_is_agent_not_found(gateway: Process) -> None:
    response = httpx.get(f"{gateway.address}/agents/nobody/tasks", timeout=TIMEOUT)
    error = error_of(response, 404, "AGENT_NOT_FOUND")
    assert "nobody" in error["message"]


def test_versions_other_than_1_0_are_refused(base: str) -> None:
    for version in ("0.3", "2.0"):
        response = httpx.get(base + "/tasks", headers={"A2A-Version": version}, timeout=TIMEOUT)
        error_of(response, 400, "VERSION_NOT_SUPPORTED")
    assert httpx.get(base + "/tasks", headers=a2a.V1, timeout=TIMEOUT).status_code == 200


def test_push_config_routes_reach_their_methods(base: str) -> None:
    """Every push-config route runs its method (whatever it answers), never a route error."""
    task = a2a.start_task(base + "/", "steps 1")
    prefix = f"{base}/tasks/{task['id']}/pushNotificationConfigs"
    for verb, url, body in (
        ("POST", prefix, {"url": "http://127.0.0.1:9/hook"}),
        ("GET", prefix, None),
        ("GET", prefix + "/c1", None),
        ("DELETE", prefix + "/c1", None),
    ):
        response = httpx.request(verb, url, json=body, timeout=TIMEOUT)
        if response.status_code != 200:
            reason = response.json()["error"]["details"][0]["reason"]
            assert reason not in ("ROUTE_NOT_FOUND", "METHOD_NOT_ALLOWED"), (verb, url)


def test_bad_requests_do_not_disturb_a_running_stream(base: str) -> None:
    events: list[tuple[str | None, str, dict[str, Any]]] = []
    thread = threading.Thread(
        target=lambda: events.extend(stream(base + "/message:stream", send_body("steps 20 20")))
    )
    thread.start()
    for verb, path, body, _, _ in ERROR_TABLE:
        httpx.request(verb, base + path, content=body, timeout=TIMEOUT)
    httpx.post(base + "/message:send", content=b"{" * 100_000, timeout=TIMEOUT)
    thread.join(TIMEOUT)
    assert [e[0] for e in events] == [str(i) for i in range(1, len(events) + 1)]
    assert kinds(events).count("status TASK_STATE_WORKING") == 20
    assert kinds(events)[-1] == "status TASK_STATE_COMPLETED"


def test_no_rest_serves_json_rpc_only(scripted_agent: Process) -> None:
    gateway = start_gateway({"scripted": scripted_agent.address}, "--no-rest")
    try:
        base = gateway.address + "/agents/scripted"
        card = httpx.get(base + "/.well-known/agent-card.json", timeout=TIMEOUT).json()
        assert [i["protocolBinding"] for i in card["supportedInterfaces"]] == ["JSONRPC"] * 2
        response = httpx.post(base + "/message:send", json=send_body("steps 1"), timeout=TIMEOUT)
        error_of(response, 404, "ROUTE_NOT_FOUND")
        assert a2a.rpc(base + "/", "ListTasks", {})["result"]["tasks"] == []
    finally:
        gateway.stop()
