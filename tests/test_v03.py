"""v0.3 and early-A2A translation (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.bindings.jsonrpc import early, v03
from gateway.core import errors
from gateway.core.events import Event


def test_send_params_in() -> None:
    params = {
        "message": {
            "kind": "message",
            "messageId": "m1",
            "role": "user",
            "parts": [
                {"kind": "text", "text": "hi"},
                {"kind": "file", "file": {"bytes": "aGk=", "mimeType": "text/plain", "name": "a"}},
                {"kind": "file", "file": {"uri": "http://x/y"}},
                {"kind": "data", "data": {"a": 1}, "metadata": {"m": 1}},
            ],
        },
        "configuration": {"blocking": False, "historyLength": 2},
        "metadata": {"k": "v"},
    }
    assert v03.send_params(params) == {
        "message": {
            "messageId": "m1",
            "role": "ROLE_USER",
            "parts": [
                {"text": "hi"},
                {"raw": "aGk=", "mediaType": "text/plain", "filename": "a"},
                {"url": "http://x/y"},
                {"data": {"a": 1}, "metadata": {"m": 1}},
            ],
        },
        "configuration": {"returnImmediately": True, "historyLength": 2},
        "metadata": {"k": "v"},
    }


def test_blocking_defaults_to_true() -> None:
    assert v03.configuration_in({}) == {"returnImmediately": False}
    with pytest.raises(errors.A2AError) as caught:
        v03.configuration_in({"blocking": "yes"})
    assert caught.value.metadata["fields"] == "configuration.blocking"


def test_push_config_becomes_the_v1_inline_config() -> None:
    auth = {"schemes": ["Bearer"], "credentials": "c"}
    out = v03.configuration_in(
        {"pushNotificationConfig": {"url": "http://x", "authentication": auth}}
    )
    assert out["taskPushNotificationConfig"] == {
        "url": "http://x",
        "authentication": {"scheme": "Bearer", "credentials": "c"},
    }


STATUS_UPDATE: dict[str, Any] = {
    "statusUpdate": {
        "taskId": "t",
        "contextId": "c",
        "status": {
            "state": "TASK_STATE_INPUT_REQUIRED",
            "message": {
                "messageId": "m",
                "taskId": "t",
                "contextId": "c",
                "role": "ROLE_AGENT",
                "parts": [{"text": "more?"}, {"data": [1, 2]}],
            },
            "timestamp": "2026-01-01T00:00:00.000Z",
        },
        "metadata": {"progress": 40},
    }
}


def test_status_update_out() -> None:
    assert v03.stream_event(STATUS_UPDATE) == {
        "kind": "status-update",
        "taskId": "t",
        "contextId": "c",
        "status": {
            "state": "input-required",
            "message": {
                "kind": "message",
                "messageId": "m",
                "role": "agent",
                "contextId": "c",
                "taskId": "t",
                "parts": [
                    {"kind": "text", "text": "more?"},
                    {"kind": "data", "data": {"value": [1, 2]}},
                ],
            },
            "timestamp": "2026-01-01T00:00:00.000Z",
        },
        "final": True,
        "metadata": {"progress": 40},
    }


def test_early_status_update_adds_the_early_fields() -> None:
    out = early.stream_event(STATUS_UPDATE)
    assert (out["id"], out["progress"], out["message"]) == ("t", 40, "more?")
    assert [p["type"] for p in out["status"]["message"]["parts"]] == ["text", "data"]


def test_each_wire_format_is_encoded_once_per_event() -> None:
    calls: list[str] = []

    def counting(body: dict[str, Any]) -> dict[str, Any]:
        calls.append("0.3")
        return v03.stream_event(body)

    event = Event(1, STATUS_UPDATE, True)
    first = event.encoded("0.3", counting)
    assert event.encoded("0.3", counting) is first
    assert calls == ["0.3"]
    assert event.encoded("1.0") != first


def test_early_params_in() -> None:
    params = {
        "id": "task-1",
        "sessionId": "s",
        "message": {"role": "user", "parts": [{"type": "text", "text": "hi"}]},
        "historyLength": 3,
    }
    out = early.send_params(params)
    assert out["message"]["contextId"] == "s"
    assert out["message"]["parts"] == [{"text": "hi"}]
    assert out["message"]["messageId"]
    assert "taskId" not in out["message"]
    assert out["configuration"] == {"returnImmediately": False, "historyLength": 3}
    assert early.task_hint(params) == "task-1"
