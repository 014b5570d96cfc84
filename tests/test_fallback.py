"""Every error body is ours (http/fallback.py): no path, verb or refusal anywhere in the app
answers Starlette's `{"detail": ...}`; JSON-RPC paths answer a JSON-RPC error object, every
other path the REST `google.rpc.Status` body."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import API_KEYS
from tests.servers import Process

TIMEOUT = 10.0


def rest_reason(response: httpx.Response) -> str:
    body = response.json()
    assert "detail" not in body
    error: dict[str, Any] = body["error"]
    assert error["code"] == response.status_code
    return str(error["details"][0]["reason"])


def jsonrpc_reason(response: httpx.Response) -> str:
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] is None
    return str(body["error"]["data"][0]["reason"])


@pytest.mark.parametrize(
    ("verb", "path", "status", "reason"),
    [
        ("GET", "/nothing/here", 404, "ROUTE_NOT_FOUND"),
        ("POST", "/agents/scripted/nothing", 404, "ROUTE_NOT_FOUND"),
        ("GET", "/ui/no-such-file.js", 404, "ROUTE_NOT_FOUND"),
        ("DELETE", "/healthz", 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/.well-known/agent-card.json", 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/agents/nobody/.well-known/agent-card.json", 404, "AGENT_NOT_FOUND"),
        ("POST", "/agents/nobody/message:send", 404, "AGENT_NOT_FOUND"),
    ],
)
def test_other_paths_answer_the_rest_error_body(
    gateway: Process, verb: str, path: str, status: int, reason: str
) -> None:
    response = httpx.request(verb, gateway.address + path, timeout=TIMEOUT)
    assert response.status_code == status, response.text
    assert rest_reason(response) == reason
    if status == 405:
        assert response.headers["allow"]


@pytest.mark.parametrize(
    ("verb", "path", "status", "reason"),
    [
        ("GET", "/", 405, "METHOD_NOT_ALLOWED"),
        ("PUT", "/agents/scripted/", 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/agents/scripted", 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/agents/nobody/", 404, "AGENT_NOT_FOUND"),
        ("POST", "/agents/nobody", 404, "AGENT_NOT_FOUND"),
        ("POST", "/tasks/x/events", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_jsonrpc_paths_answer_a_jsonrpc_error_object(
    gateway: Process, verb: str, path: str, status: int, reason: str
) -> None:
    response = httpx.request(verb, gateway.address + path, json={}, timeout=TIMEOUT)
    assert response.status_code == status, response.text
    assert jsonrpc_reason(response) == reason
    assert response.headers["content-type"] == "application/json"


def test_unauthenticated_rest_request_gets_the_rest_body(auth_gateway: Process) -> None:
    base = auth_gateway.address + "/agents/scripted"
    response = httpx.get(base + "/tasks", timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.headers["www-authenticate"]
    assert rest_reason(response) == "UNAUTHENTICATED"
    rpc = httpx.post(base + "/", json={}, timeout=TIMEOUT)
    assert rpc.status_code == 401
    assert jsonrpc_reason(rpc) == "UNAUTHENTICATED"


def test_rest_requests_authenticate_and_see_only_their_own_tasks(auth_gateway: Process) -> None:
    base = auth_gateway.address + "/agents/scripted"
    alice = {"X-API-Key": API_KEYS["alice"]}
    bob = {"X-API-Key": API_KEYS["bob"]}
    body = {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "steps 1"}]}}
    created = httpx.post(base + "/message:send", json=body, headers=alice, timeout=TIMEOUT)
    assert created.status_code == 200, created.text
    task_id = created.json()["task"]["id"]
    mine = httpx.get(f"{base}/tasks/{task_id}", headers=alice, timeout=TIMEOUT)
    assert mine.json()["id"] == task_id
    theirs = httpx.get(f"{base}/tasks/{task_id}", headers=bob, timeout=TIMEOUT)
    assert theirs.status_code == 404
    assert rest_reason(theirs) == "TASK_NOT_FOUND"
    listed = httpx.get(base + "/tasks", headers=bob, timeout=TIMEOUT).json()
    assert task_id not in {t["id"] for t in listed["tasks"]}


@pytest.mark.parametrize("path", ["/ui/tasks", "/ui/extendedAgentCard", "/ui/tasks/x"])
def test_the_public_page_prefix_is_never_a_tenant(auth_gateway: Process, path: str) -> None:
    """/ui/ is public; a REST path under it must not run a method without credentials."""
    response = httpx.get(auth_gateway.address + path, timeout=TIMEOUT)
    assert response.status_code == 404
    assert rest_reason(response) == "ROUTE_NOT_FOUND"
