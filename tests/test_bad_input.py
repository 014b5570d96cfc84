"""Bad input gets a precise JSON-RPC error, never a 500 or a hang, and harms no other task."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from gateway.ops.settings import Settings
from tests import a2a
from tests.servers import Process, start_gateway

DEFAULT_LIMIT = Settings().max_body_bytes


@pytest.fixture
def url(gateway: Process) -> str:
    return gateway.address + "/agents/scripted/"


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert "result" not in body
    error: dict[str, Any] = body["error"]
    return error


def test_non_json_body_is_a_parse_error(url: str) -> None:
    response = a2a.post(url, "not json")
    error = error_of(response)
    assert error["code"] == -32700
    assert response.json()["id"] is None


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '[{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}]',
        "42",
        '"text"',
        '{"id":1,"method":"GetTask","params":{}}',
        '{"jsonrpc":"1.0","id":1,"method":"GetTask","params":{}}',
        '{"jsonrpc":"2.0","method":"GetTask","params":{}}',
        '{"jsonrpc":"2.0","id":1,"params":{}}',
        '{"jsonrpc":"2.0","id":1,"method":7}',
        '{"jsonrpc":"2.0","id":{"a":1},"method":"GetTask"}',
    ],
)
def test_json_that_is_not_a_request_object_is_an_invalid_request(url: str, body: str) -> None:
    assert error_of(a2a.post(url, body))["code"] == -32600


def test_invalid_request_echoes_the_id_when_it_can(url: str) -> None:
    response = a2a.post(url, '{"jsonrpc":"1.0","id":"abc","method":"GetTask"}')
    assert response.json()["id"] == "abc"


def test_unknown_method_is_method_not_found(url: str) -> None:
    error = error_of(a2a.post(url, '{"jsonrpc":"2.0","id":1,"method":"Bogus","params":{}}'))
    assert error["code"] == -32601
    assert "Bogus" in error["message"]


def test_params_that_are_not_an_object_are_invalid_params(url: str) -> None:
    error = error_of(a2a.post(url, '{"jsonrpc":"2.0","id":1,"method":"GetTask","params":[1]}'))
    assert error["code"] == -32602


def _message(**changes: Any) -> dict[str, Any]:
    message = a2a.user_message("steps 1")
    message.update(changes)
    return {key: value for key, value in message.items() if value is not None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "message"),
        ({"message": "hello"}, "message"),
        ({"message": _message(parts=[])}, "message.parts"),
        ({"message": _message(parts=None)}, "message.parts"),
        ({"message": _message(messageId=None)}, "message.messageId"),
        ({"message": _message(role="ROLE_AGENT")}, "message.role"),
        ({"message": _message(role="user")}, "message.role"),
        ({"message": _message(parts=[{}])}, "message.parts[0]"),
        ({"message": _message(parts=[{"text": "a", "url": "http://x"}])}, "message.parts[0]"),
        ({"message": _message(parts=[{"text": 5}])}, "message.parts[0].text"),
        ({"message": _message(parts=[{"raw": "not base64!"}])}, "message.parts[0].raw"),
        (
            {"message": _message(), "configuration": {"historyLength": "5"}},
            "configuration.historyLength",
        ),
        (
            {"message": _message(), "configuration": {"historyLength": -1}},
            "configuration.historyLength",
        ),
        (
            {"message": _message(), "configuration": {"returnImmediately": "yes"}},
            "configuration.returnImmediately",
        ),
    ],
)
def test_bad_send_message_params_name_the_field(
    url: str, params: dict[str, Any], field: str
) -> None:
    error = a2a.rpc(url, "SendMessage", params)["error"]
    assert error["code"] == -32602
    assert field in error["message"]
    violations = error["data"][1]["fieldViolations"]
    assert any(v["field"] == field for v in violations), violations


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("GetTask", {}, "id"),
        ("GetTask", {"id": 5}, "id"),
        ("GetTask", {"id": "x", "historyLength": "2"}, "historyLength"),
        ("CancelTask", {"id": ""}, "id"),
        ("SubscribeToTask", {"id": None}, "id"),
        ("ListTasks", {"status": "DONE"}, "status"),
        ("ListTasks", {"pageSize": 0}, "pageSize"),
        ("ListTasks", {"pageSize": 101}, "pageSize"),
        ("ListTasks", {"statusTimestampAfter": "yesterday"}, "statusTimestampAfter"),
        ("ListTasks", {"includeArtifacts": 1}, "includeArtifacts"),
    ],
)
def test_bad_task_params_name_the_field(
    url: str, method: str, params: dict[str, Any], field: str
) -> None:
    error = a2a.rpc(url, method, params)["error"]
    assert error["code"] == -32602
    assert field in error["message"]


def test_unknown_fields_are_ignored(url: str) -> None:
    message = {**a2a.user_message("steps 1"), "surprise": True}
    params = {"message": message, "alsoUnknown": {"x": 1}}
    body = a2a.request("SendMessage", params)
    body["extraTopLevel"] = "ignored"
    response = httpx.post(url, json=body, headers=a2a.V1, timeout=30)
    assert response.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


def test_body_over_the_default_limit_is_refused_before_it_is_read(url: str) -> None:
    response = a2a.post_declaring(url, DEFAULT_LIMIT + 1, b'{"jsonrpc":"2.0","id":1,')
    assert response.status == 413
    assert response.json()["error"]["code"] == -32600
    assert response.json()["error"]["data"][0]["reason"] == "BODY_TOO_LARGE"


def test_chunked_body_over_the_limit_is_refused(url: str) -> None:
    def chunks() -> Any:
        for _ in range(DEFAULT_LIMIT // 65536 + 4):
            yield b" " * 65536
        yield b"{}"

    headers = {**a2a.V1, "Content-Type": "application/json"}
    response = httpx.post(url, content=chunks(), headers=headers, timeout=30)
    assert response.status_code == 413


def test_unknown_agent_is_a_404_with_a_json_body(gateway: Process) -> None:
    for response in (
        httpx.post(gateway.address + "/agents/nobody/", json={}, timeout=10),
        httpx.get(gateway.address + "/agents/nobody/.well-known/agent-card.json", timeout=10),
    ):
        assert response.status_code == 404
        assert "nobody" in response.json()["error"]["message"]


def test_bad_input_does_not_disturb_a_running_task(url: str) -> None:
    events: list[a2a.SseEvent] = []
    thread = threading.Thread(target=lambda: events.extend(a2a.send_stream(url, "steps 20 20")))
    thread.start()
    for body in ("not json", "[]", '{"jsonrpc":"2.0","id":1,"method":"Bogus"}'):
        a2a.post(url, body)
    a2a.rpc(url, "SendMessage", {"message": {"role": "ROLE_USER"}})
    a2a.rpc(url, "CancelTask", {"id": "nope"})
    a2a.post(url, b"{" * 100_000)
    thread.join(30)
    assert [e.id for e in events] == [str(i) for i in range(1, len(events) + 1)]
    assert [e.kind for e in events].count("statusUpdate") == 21
    assert events[-1].state == "TASK_STATE_COMPLETED"


class TestAgentBreakingTheContract:
    """An agent that misbehaves fails its own task with a reason, never the gateway."""

    def final_of(self, url: str, text: str) -> dict[str, Any]:
        events = a2a.send_stream(url, text)
        assert events[-1].state == "TASK_STATE_FAILED", events[-1].data
        update: dict[str, Any] = events[-1].result["statusUpdate"]
        return update

    @pytest.mark.parametrize(
        ("script", "reason", "words"),
        [
            ("wrong-task-id", "INVALID_AGENT_RESPONSE", "someone-elses-task"),
            ("after-final", "INVALID_AGENT_RESPONSE", "followed the final status"),
            ("no-final", "INVALID_AGENT_RESPONSE", "without a final status"),
            ("bad-progress", "INVALID_AGENT_RESPONSE", "progress 150"),
            ("append-unknown", "INVALID_AGENT_RESPONSE", "unknown artifact"),
            ("error-midstream", "AGENT_ERROR", "the model crashed"),
            # over the gateway's 16 MiB per agent message (checked by upstream.event, since
            # the calls' channel runs gRPC's minimal filter stack)
            ("flood 1 17000000", "AGENT_RESOURCE_EXHAUSTED", "larger than max (17000"),
        ],
    )
    def test_broken_rule_fails_the_task_with_the_reason(
        self, url: str, script: str, reason: str, words: str
    ) -> None:
        update = self.final_of(url, script)
        assert update["metadata"]["error"]["reason"] == reason
        assert words in update["status"]["message"]["parts"][0]["text"]

    def test_failed_task_stays_readable(self, url: str) -> None:
        events = a2a.send_stream(url, "error-midstream")
        task = a2a.rpc(url, "GetTask", {"id": events[0].result["task"]["id"]})["result"]
        assert task["status"]["state"] == "TASK_STATE_FAILED"

    def test_error_before_the_first_event_is_a_json_rpc_error(self, url: str) -> None:
        error = a2a.rpc(url, "SendStreamingMessage", {"message": a2a.user_message("error-first")})
        assert error["error"]["code"] == -32602
        assert "this document is not valid" in error["error"]["message"]

    def test_call_without_any_event_is_invalid_agent_response(self, url: str) -> None:
        error = a2a.rpc(url, "SendMessage", {"message": a2a.user_message("nothing")})["error"]
        assert error["code"] == -32006

    def test_two_direct_replies_are_invalid_agent_response(self, url: str) -> None:
        error = a2a.rpc(url, "SendMessage", {"message": a2a.user_message("reply-twice")})["error"]
        assert error["code"] == -32006


def test_unreachable_agent_is_a_clear_error(gateway: Process) -> None:
    process = start_gateway({"gone": "127.0.0.1:9"})
    try:
        url = process.address + "/agents/gone/"
        error = a2a.rpc(url, "SendMessage", {"message": a2a.user_message("hi")})["error"]
        assert error["code"] == -32603
        assert error["data"][0]["reason"] == "AGENT_UNAVAILABLE"
        assert "gone" in error["message"]
        ready = httpx.get(process.address + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["agents"]["gone"]["status"].startswith("UNREACHABLE")
        card = httpx.get(url + ".well-known/agent-card.json", timeout=10)
        assert card.status_code == 503
    finally:
        process.stop()
