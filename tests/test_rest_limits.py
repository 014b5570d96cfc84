"""One core under both bindings: auth, per-principal limits and metrics behave over REST as
over JSON-RPC, and the slots they count are the same slots."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import connect_sse

from tests import a2a
from tests.servers import Process, start_gateway

KEYS = {"limited": "limited-key-1", "other": "other-key-1"}
TIMEOUT = 30.0  # generous: the machine is shared


def key(name: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[name]}


@pytest.fixture(scope="module")
def limited(scripted_agent: Process) -> Iterator[Process]:
    args = ["--rate", "5", "--burst", "5", "--max-streams", "1"]
    for name, value in KEYS.items():
        args += ["--api-key-hash", f"{name}={hashlib.sha256(value.encode()).hexdigest()}"]
    process = start_gateway({"scripted": scripted_agent.address}, *args)
    yield process
    process.stop()


def wait_for_tokens(seconds: float = 1.2) -> None:
    """Let the bucket refill (the only sleep here: waiting is what is under test)."""
    time.sleep(seconds)


def test_over_the_rate_a_rest_request_gets_429_with_the_rest_body(limited: Process) -> None:
    wait_for_tokens()
    url = limited.address + "/agents/scripted/tasks/x"
    with httpx.Client(timeout=TIMEOUT) as client:
        statuses = [client.get(url, headers=key("limited")).status_code for _ in range(5)]
        refused = client.get(url, headers=key("limited"))
    assert statuses == [404] * 5  # no such task, but each one counted
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    error = refused.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert error["details"][0]["reason"] == "RATE_LIMITED"
    assert error["details"][1]["@type"] == "type.googleapis.com/google.rpc.RetryInfo"


def test_a_json_rpc_stream_holds_the_slot_a_rest_stream_needs(limited: Process) -> None:
    wait_for_tokens()
    base = limited.address + "/agents/scripted"
    body = {"message": a2a.user_message("hang")}
    with (
        httpx.Client(timeout=TIMEOUT) as client,
        connect_sse(
            client,
            "POST",
            base + "/",
            json=a2a.request("SendStreamingMessage", body),
            headers={**a2a.V1, **key("limited")},
        ) as source,
    ):
        events = source.iter_sse()  # kept: a dropped iterator would close the stream
        task_id = json.loads(next(events).data)["result"]["task"]["id"]
        with client.stream(
            "POST", base + "/message:stream", json=body, headers=key("limited")
        ) as refused:
            assert refused.status_code == 429, refused.headers  # not a second open stream
            reason = json.loads(refused.read())["error"]["details"][0]["reason"]
        assert reason == "TOO_MANY_STREAMS"
        canceled = client.post(f"{base}/tasks/{task_id}:cancel", headers=key("limited"))
        assert canceled.json()["status"]["state"] == "TASK_STATE_CANCELED"


def test_rest_requests_are_counted_under_their_binding(limited: Process) -> None:
    wait_for_tokens()
    base = limited.address + "/agents/scripted"
    httpx.get(base + "/tasks", headers=key("other"), timeout=TIMEOUT)
    httpx.get(base + "/tasks/nope", headers=key("other"), timeout=TIMEOUT)
    page = httpx.get(limited.address + "/metrics", timeout=TIMEOUT).text
    assert 'a2a_requests_total{binding="rest",code="0",method="ListTasks"}' in page
    assert 'a2a_requests_total{binding="rest",code="-32001",method="GetTask"}' in page
