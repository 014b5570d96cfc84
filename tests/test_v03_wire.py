"""A2A v0.3 and early-A2A over a real gateway: names, shapes, negotiation and bad input."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests import a2a
from tests.servers import Process


def url_of(gateway: Process) -> str:
    return gateway.address + "/agents/scripted/"


def message03(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "message",
        "messageId": str(uuid.uuid4()),
        "role": "user",
        "parts": [{"kind": "text", "text": text}],
        **extra,
    }


def call(
    url: str, method: str, params: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = httpx.post(url, json=a2a.request(method, params), headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stream(
    url: str, method: str, params: dict[str, Any], *, limit: int | None = None
) -> list[dict[str, Any]]:
    """POST without an A2A-Version header (v0.3); the `result` of each event."""
    results: list[dict[str, Any]] = []
    with (
        httpx.Client(timeout=30) as client,
        connect_sse(client, "POST", url, json=a2a.request(method, params)) as source,
    ):
        for sse in source.iter_sse():
            data = json.loads(sse.data)
            assert "result" in data, data
            results.append(data["result"])
            if limit is not None and len(results) >= limit:
                break
    return results


def kinds(results: list[dict[str, Any]]) -> list[str]:
    out = []
    for result in results:
        state = result.get("status", {}).get("state")
        out.append(f"{result['kind']} {state}" if state else result["kind"])
    return out


def test_message_stream_speaks_v03(gateway: Process) -> None:
    results = stream(url_of(gateway), "message/stream", {"message": message03("steps 2")})
    assert kinds(results) == [
        "task submitted",
        "status-update working",
        "status-update working",
        *["artifact-update"] * 3,
        "status-update completed",
    ]
    task = results[0]
    assert task["history"][0]["kind"] == "message"
    assert task["history"][0]["role"] == "user"
    assert task["history"][0]["parts"] == [{"kind": "text", "text": "steps 2"}]
    updates = [r for r in results if r["kind"] == "status-update"]
    assert [u["final"] for u in updates] == [False, False, True]
    assert updates[0]["status"]["message"]["role"] == "agent"
    assert updates[0]["status"]["message"]["parts"][0] == {"kind": "text", "text": "step 1"}
    assert updates[0]["metadata"] == {"progress": 50}
    chunk = next(r for r in results if r["kind"] == "artifact-update")
    assert chunk["artifact"]["parts"] == [{"kind": "text", "text": "part0;"}]
    assert (chunk["append"], chunk["lastChunk"]) == (False, False)
    assert {r.get("taskId", r.get("id")) for r in results} == {task["id"]}


def test_input_required_is_final(gateway: Process) -> None:
    results = stream(url_of(gateway), "message/stream", {"message": message03("ask")})
    assert kinds(results) == ["task submitted", "status-update input-required"]
    assert results[-1]["final"] is True


def test_message_send_blocks_by_default_and_honours_history_length(gateway: Process) -> None:
    params = {"message": message03("steps 2"), "configuration": {"historyLength": 1}}
    task = call(url_of(gateway), "message/send", params)["result"]
    assert task["kind"] == "task"
    assert task["status"]["state"] == "completed"
    assert [m["parts"][0]["text"] for m in task["history"]] == ["step 2"]
    assert task["artifacts"][0]["parts"][0] == {"kind": "text", "text": "part0;"}


def test_message_send_non_blocking_returns_at_once(gateway: Process) -> None:
    params = {"message": message03("hang"), "configuration": {"blocking": False}}
    task = call(url_of(gateway), "message/send", params)["result"]
    assert task["status"]["state"] == "submitted"
    canceled = call(url_of(gateway), "tasks/cancel", {"id": task["id"]})["result"]
    assert canceled["kind"] == "task"
    assert canceled["status"]["state"] == "canceled"


def test_direct_reply_is_a_v03_message(gateway: Process) -> None:
    reply = call(url_of(gateway), "message/send", {"message": message03("reply hi")})["result"]
    assert reply["kind"] == "message"
    assert reply["role"] == "agent"
    assert reply["parts"] == [{"kind": "text", "text": "direct hi"}]


def test_get_and_resubscribe(gateway: Process) -> None:
    url = url_of(gateway)
    head = stream(url, "message/stream", {"message": message03("hang")}, limit=2)
    task_id = head[0]["id"]
    got = call(url, "tasks/get", {"id": task_id, "historyLength": 0})["result"]
    assert got["kind"] == "task"
    assert got["status"]["state"] == "working"
    assert "history" not in got
    with (
        httpx.Client(timeout=30) as client,
        connect_sse(
            client, "POST", url, json=a2a.request("tasks/resubscribe", {"id": task_id})
        ) as source,
    ):
        events = source.iter_sse()
        first = json.loads(next(events).data)["result"]
        assert kinds([first]) == ["task working"]
        call(url, "tasks/cancel", {"id": task_id})
        rest = [json.loads(e.data)["result"] for e in events]
    assert kinds(rest) == ["status-update canceled"]
    assert rest[0]["final"] is True


def stream_error(
    url: str, method: str, params: Any, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST a v0.3 streaming method that is refused: HTTP 200, text/event-stream, exactly
    one event whose data is the JSON-RPC error response (v0.3 3.3.1); the error object."""
    body = a2a.request(method, params, request_id=7)
    response = httpx.post(url, json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f.strip()]
    assert len(frames) == 1, response.text
    assert frames[0].startswith("data: ")
    data: dict[str, Any] = json.loads(frames[0].removeprefix("data: "))
    assert (data["jsonrpc"], data["id"]) == ("2.0", 7)
    assert "result" not in data
    error: dict[str, Any] = data["error"]
    return error


def test_resubscribe_to_a_finished_task_is_unsupported_inside_the_stream(
    gateway: Process,
) -> None:
    url = url_of(gateway)
    task = call(url, "message/send", {"message": message03("steps 1")})["result"]
    assert stream_error(url, "tasks/resubscribe", {"id": task["id"]})["code"] == -32004


@pytest.mark.parametrize(
    ("method", "params", "headers", "code"),
    [
        ("tasks/resubscribe", {"id": "no-such-task"}, None, -32001),
        ("tasks/resubscribe", {}, None, -32602),
        ("message/stream", {"message": {"kind": "message", "role": "user"}}, None, -32602),
        (
            "message/stream",
            {
                "message": {
                    "taskId": "nope",
                    "role": "user",
                    "messageId": "m",
                    "parts": [{"kind": "text", "text": "x"}],
                }
            },
            None,
            -32001,
        ),
        ("message/stream", {"message": {"role": "user"}}, {"A2A-Version": "0.9"}, -32009),
        ("tasks/sendSubscribe", {"message": {"role": "user"}}, {"A2A-Version": "1.0"}, -32601),
    ],
)
def test_v03_streaming_methods_answer_errors_inside_the_stream(
    gateway: Process, method: str, params: Any, headers: dict[str, str] | None, code: int
) -> None:
    assert stream_error(url_of(gateway), method, params, headers)["code"] == code


def test_v1_streaming_methods_keep_plain_json_errors(gateway: Process) -> None:
    response = a2a.post(
        url_of(gateway), json.dumps(a2a.request("SubscribeToTask", {"id": "no-such-task"}))
    )
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == -32001


def test_v03_resubscribe_ends_with_the_turn(gateway: Process) -> None:
    """v0.3 7.9: tasks/resubscribe resumes the interaction's stream, which ends at
    `final: true`, an input-required status included (v1.0 SubscribeToTask goes on)."""
    url = url_of(gateway)
    task = call(url, "message/send", {"message": message03("ask")})["result"]
    assert task["status"]["state"] == "input-required"
    results = stream(url, "tasks/resubscribe", {"id": task["id"]})
    assert kinds(results) == ["task input-required"]


def test_v03_part_without_kind_names_the_field(gateway: Process) -> None:
    message = {**message03("hi"), "parts": [{"text": "hi"}]}
    error = call(url_of(gateway), "message/send", {"message": message})["error"]
    assert error["code"] == -32602
    assert error["data"][1]["fieldViolations"][0]["field"] == "message.parts[0].kind"


def test_task_created_in_v1_is_read_in_v03_and_the_reverse(gateway: Process) -> None:
    url = url_of(gateway)
    v1_task = a2a.rpc(url, "SendMessage", {"message": a2a.user_message("steps 1")})["result"]
    read03 = call(url, "tasks/get", {"id": v1_task["task"]["id"]})["result"]
    assert read03["status"]["state"] == "completed"
    v03_task = call(url, "message/send", {"message": message03("steps 1")})["result"]
    read1 = a2a.rpc(url, "GetTask", {"id": v03_task["id"]})["result"]
    assert read1["status"]["state"] == "TASK_STATE_COMPLETED"
    assert read1["history"][0]["role"] == "ROLE_USER"


@pytest.mark.parametrize(
    "method",
    [
        "tasks/pushNotificationConfig/set",
        "tasks/pushNotificationConfig/get",
        "tasks/pushNotificationConfig/list",
        "tasks/pushNotificationConfig/delete",
    ],
)
def test_push_config_of_an_unknown_task_is_task_not_found(gateway: Process, method: str) -> None:
    params: dict[str, Any] = {"id": "x", "taskId": "x", "pushNotificationConfigId": "y"}
    if method.endswith("/set"):
        params["pushNotificationConfig"] = {"url": "https://example.com/hook"}
    error = call(url_of(gateway), method, params)["error"]
    assert error["code"] == -32001


def test_extended_card_errors_per_version(gateway: Process) -> None:
    url = url_of(gateway)
    assert call(url, "agent/getAuthenticatedExtendedCard", {})["error"]["code"] == -32007
    # v1.0 section 3.3.4: capabilities.extendedAgentCard is not declared -> UnsupportedOperation.
    assert a2a.rpc(url, "GetExtendedAgentCard", {})["error"]["code"] == -32004


@pytest.mark.parametrize(
    ("method", "headers", "belongs"),
    [
        ("SendMessage", {}, "v1.0"),
        ("GetTask", {"A2A-Version": "0.3"}, "v1.0"),
        ("message/send", {"A2A-Version": "1.0"}, "v0.3"),
        ("tasks/get", {"A2A-Version": "1.0.1"}, "v0.3"),
    ],
)
def test_mixed_versions_are_method_not_found(
    gateway: Process, method: str, headers: dict[str, str], belongs: str
) -> None:
    error = call(url_of(gateway), method, {"id": "x"}, headers)["error"]
    assert error["code"] == -32601
    assert f"belongs to A2A {belongs}" in error["message"]


@pytest.mark.parametrize("version", ["0.5", "2.0", "1", "latest"])
def test_unknown_version_is_rejected_with_the_supported_ones(
    gateway: Process, version: str
) -> None:
    error = call(url_of(gateway), "GetTask", {"id": "x"}, {"A2A-Version": version})["error"]
    assert error["code"] == -32009
    assert error["data"][0]["metadata"]["supported"] == "1.0,0.3"


def test_version_as_query_parameter(gateway: Process) -> None:
    url = url_of(gateway) + "?A2A-Version=1.0"
    body = call(url, "GetTask", {"id": "nope"})
    assert body["error"]["code"] == -32001


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({**message03("hi"), "kind": "task"}, "message.kind"),
        ({**message03("hi"), "parts": [{"kind": "txt", "text": "hi"}]}, "message.parts[0].kind"),
        ({**message03("hi"), "role": "agent"}, "message.role"),
        ({**message03("hi"), "parts": [{"kind": "file", "file": {}}]}, "message.parts[0].file"),
    ],
)
def test_wrong_v03_shapes_name_the_field(
    gateway: Process, message: dict[str, Any], field: str
) -> None:
    error = call(url_of(gateway), "message/send", {"message": message})["error"]
    assert error["code"] == -32602
    assert error["data"][1]["fieldViolations"][0]["field"] == field


@pytest.mark.parametrize(
    "part",
    [
        {"kind": "file", "file": {"bytes": "aGk=", "mimeType": "image/png"}},
        {"kind": "file", "file": {"uri": "http://127.0.0.1:1/x.pdf"}},
        {"kind": "data", "data": {"a": 1}},
    ],
)
def test_parts_the_agent_does_not_accept(gateway: Process, part: dict[str, Any]) -> None:
    message = {**message03("hi"), "parts": [{"kind": "text", "text": "steps 1"}, part]}
    error = call(url_of(gateway), "message/send", {"message": message})["error"]
    assert error["code"] == -32005
    assert error["data"][0]["metadata"]["field"] == "message.parts[1]"


def test_v1_raw_part_with_text_media_type_is_accepted(gateway: Process) -> None:
    message = a2a.user_message("steps 1")
    message["parts"].append({"raw": "aGk=", "mediaType": "text/plain; charset=utf-8"})
    body = a2a.rpc(url_of(gateway), "SendMessage", {"message": message})
    assert body["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


def early_message(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"type": "text", "text": text}]}


def test_early_send_subscribe_streams_progress(gateway: Process) -> None:
    params = {"id": "task-123", "sessionId": "s-1", "message": early_message("steps 2")}
    results = stream(url_of(gateway), "tasks/sendSubscribe", params)
    task = results[0]
    assert task["id"] != "task-123"  # a new task gets a gateway id
    assert (task["contextId"], task["sessionId"]) == ("s-1", "s-1")
    assert task["history"][0]["parts"] == [{"kind": "text", "type": "text", "text": "steps 2"}]
    updates = [r for r in results if r["kind"] == "status-update"]
    assert [(u["id"], u.get("progress"), u["message"], u["final"]) for u in updates] == [
        (task["id"], 50, "step 1", False),
        (task["id"], 100, "step 2", False),
        (task["id"], None, "done", True),
    ]
    chunks = [r for r in results if r["kind"] == "artifact-update"]
    assert chunks[0]["id"] == task["id"]
    assert chunks[0]["artifact"]["parts"][0]["type"] == "text"


def test_early_send_continues_a_known_task(gateway: Process) -> None:
    url = url_of(gateway)
    first = call(url, "tasks/send", {"id": "mine", "message": early_message("ask")})["result"]
    assert first["status"]["state"] == "input-required"
    params = {"id": first["id"], "message": early_message("ask again")}
    second = call(url, "tasks/send", params)["result"]
    assert second["id"] == first["id"]
    assert second["status"]["state"] == "completed"
    assert second["status"]["message"]["parts"][0]["text"] == "answered: ask again"
