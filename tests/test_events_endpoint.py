"""GET {prefix}/tasks/{id}/events: the same events and ids for browsers' EventSource."""

from __future__ import annotations

import httpx
import pytest

from tests import a2a
from tests.servers import Process


@pytest.fixture
def url(gateway: Process) -> str:
    return gateway.address + "/agents/scripted/"


def events_url(base: str, task_id: str) -> str:
    return f"{base}tasks/{task_id}/events"


def test_same_events_and_ids_as_the_json_rpc_stream_with_a_null_id(url: str) -> None:
    original = a2a.send_stream(url, "steps 3")
    task_id = original[0].result["task"]["id"]
    replayed = a2a.events(events_url(url, task_id), headers={"Last-Event-ID": "0"})
    assert [(e.id, e.result) for e in replayed] == [(e.id, e.result) for e in original]
    assert {e.data["id"] for e in replayed} == {None}
    assert {e.data["jsonrpc"] for e in replayed} == {"2.0"}


def test_the_root_serves_the_default_agent(gateway: Process, url: str) -> None:
    original = a2a.send_stream(url, "steps 1")
    task_id = original[0].result["task"]["id"]
    replayed = a2a.events(f"{gateway.address}/tasks/{task_id}/events?lastEventId=2")
    assert a2a.ids(replayed) == list(range(3, len(original) + 1))


def test_the_query_param_is_a_fallback_and_the_header_wins(url: str) -> None:
    original = a2a.send_stream(url, "steps 2")
    base = events_url(url, original[0].result["task"]["id"])
    assert a2a.ids(a2a.events(base + "?lastEventId=4")) == list(range(5, len(original) + 1))
    both = a2a.events(base + "?lastEventId=1", headers={"Last-Event-ID": "5"})
    assert a2a.ids(both) == list(range(6, len(original) + 1))


def test_a_running_task_without_an_id_is_the_task_then_live_events(url: str) -> None:
    task = a2a.start_task(url, "steps 5 50")
    events = a2a.events(events_url(url, task["id"]))
    assert events[0].kind == "task"
    assert events[-1].state == "TASK_STATE_COMPLETED"
    ids = a2a.ids(events)
    assert ids == list(range(ids[0], ids[-1] + 1))


def test_a_finished_task_without_an_id_is_its_final_task_alone(url: str) -> None:
    original = a2a.send_stream(url, "steps 1")
    events = a2a.events(events_url(url, original[0].result["task"]["id"]))
    assert len(events) == 1
    assert events[0].state == "TASK_STATE_COMPLETED"
    assert events[0].id == original[-1].id


def test_a_browser_reconnecting_after_the_last_event_is_told_to_stop_with_204(url: str) -> None:
    original = a2a.send_stream(url, "steps 1")
    response = httpx.get(
        events_url(url, original[0].result["task"]["id"]),
        headers={"Last-Event-ID": original[-1].id or ""},
        timeout=10,
    )
    assert response.status_code == 204


def test_the_stream_sends_a_retry_hint_first(url: str) -> None:
    original = a2a.send_stream(url, "steps 1")
    with httpx.stream(
        "GET", events_url(url, original[0].result["task"]["id"]) + "?lastEventId=0", timeout=10
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        raw = response.read().decode()
    assert raw.startswith("retry: 3000\n")


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("?lastEventId=abc", 400, -32602),
        ("?lastEventId=99", 400, -32602),
        ("?lastEventId=-3", 400, -32602),
    ],
)
def test_bad_ids_are_an_http_error_with_the_json_rpc_error(
    url: str, query: str, status: int, code: int
) -> None:
    task_id = a2a.send_stream(url, "steps 1")[0].result["task"]["id"]
    response = httpx.get(events_url(url, task_id) + query, timeout=10)
    assert response.status_code == status
    body = response.json()
    assert body["id"] is None
    assert body["error"]["code"] == code


def test_unknown_task_is_404_with_task_not_found(url: str) -> None:
    response = httpx.get(events_url(url, "no-such-task"), timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == -32001


def test_unknown_agent_is_404(gateway: Process) -> None:
    response = httpx.get(f"{gateway.address}/agents/nobody/tasks/x/events", timeout=10)
    assert response.status_code == 404


def test_keepalive_comments_flow_on_an_idle_events_stream(url: str) -> None:
    task = a2a.start_task(url, "hang")
    seen = b""
    with httpx.stream("GET", events_url(url, task["id"]) + "?lastEventId=2", timeout=30) as r:
        for chunk in r.iter_bytes():
            seen += chunk
            if b": keep-alive\n" in seen:
                break
    assert seen.startswith(b"retry: 3000\n")
    assert b": keep-alive\n" in seen
    a2a.rpc(url, "CancelTask", {"id": task["id"]})


def test_keepalive_comments_flow_on_a_resumed_json_rpc_stream(url: str) -> None:
    task = a2a.start_task(url, "hang")
    body = a2a.request("SubscribeToTask", {"id": task["id"]})
    seen = b""
    headers = {**a2a.V1, "Last-Event-ID": "1"}
    with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as response:
        for chunk in response.iter_bytes():
            seen += chunk
            if b": keep-alive\n" in seen:
                break
    assert b"id: 2\n" in seen
    assert b": keep-alive\n" in seen
    a2a.rpc(url, "CancelTask", {"id": task["id"]})
