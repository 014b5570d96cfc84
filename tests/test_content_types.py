"""Both JSON media types reach the HTTP bindings (http/guard.py refuses the others), and each
answers the type the spec gives it: JSON-RPC `application/json` (A2A v1.0 9.1), REST
`application/a2a+json` (11.1)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests import a2a
from tests.servers import Process

TYPES = ["application/json", "application/a2a+json", "Application/A2A+JSON; charset=utf-8"]


def essence(content_type: str) -> str:
    return content_type.split(";")[0].strip()


@pytest.mark.parametrize("content_type", TYPES)
def test_jsonrpc_accepts_both_json_types_and_answers_application_json(
    gateway: Process, content_type: str
) -> None:
    body = json.dumps(a2a.request("GetTask", {"id": "no-such-task"}))
    response = a2a.post(gateway.address + "/", body, **{"Content-Type": content_type})
    assert response.status_code == 200
    assert essence(response.headers["content-type"]) == "application/json"
    assert response.json()["error"]["code"] == -32001


@pytest.mark.parametrize("content_type", TYPES)
def test_rest_accepts_both_json_types_and_answers_a2a_json(
    gateway: Process, content_type: str
) -> None:
    body = json.dumps({"message": a2a.user_message("steps 1")})
    response = httpx.post(
        gateway.address + "/agents/scripted/message:send",
        content=body,
        headers={"Content-Type": content_type, "Accept": "application/a2a+json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert essence(response.headers["content-type"]) == "application/a2a+json"
    assert response.json()["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
