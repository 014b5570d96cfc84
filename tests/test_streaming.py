"""SendStreamingMessage and SubscribeToTask over real sockets: ids, order, framing, fan-out."""

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


def test_stream_starts_with_submitted_task_and_ends_after_completed(url: str) -> None:
    events = a2a.send_stream(url, "steps 4")
    kinds = [e.kind for e in events]
    assert kinds == ["task"] + ["statusUpdate"] * 4 + ["artifactUpdate"] * 3 + ["statusUpdate"]
    assert events[0].state == "TASK_STATE_SUBMITTED"
    assert [e.state for e in events[1:5]] == ["TASK_STATE_WORKING"] * 4
    assert events[-1].state == "TASK_STATE_COMPLETED"
    assert [e.id for e in events] == [str(i) for i in range(1, 10)]


def test_progress_reaches_the_client_as_status_metadata(url: str) -> None:
    events = a2a.send_stream(url, "steps 4")
    progress = [e.result["statusUpdate"]["metadata"]["progress"] for e in events[1:5]]
    assert progress == [25, 50, 75, 100]


def test_every_event_is_one_json_rpc_response_with_the_request_id(url: str) -> None:
    events = a2a.stream(
        url,
        "SendStreamingMessage",
        {"message": a2a.user_message("steps 2")},
    )
    ids = {e.data["id"] for e in events}
    assert len(ids) == 1
    assert all(e.data["jsonrpc"] == "2.0" for e in events)
    task_id = events[0].result["task"]["id"]
    for event in events[1:]:
        update = event.result.get("statusUpdate") or event.result["artifactUpdate"]
        assert update["taskId"] == task_id


def test_wire_format_is_one_line_per_event_with_id_and_retry_hint(url: str) -> None:
    body = a2a.request("SendStreamingMessage", {"message": a2a.user_message("steps 1")}, "req-7")
    with httpx.stream("POST", url, json=body, headers=a2a.V1, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    blocks = [b for b in raw.split("\r\n\r\n" if "\r\n" in raw else "\n\n") if b.strip()]
    assert blocks[0].startswith("retry: ")
    for block in blocks:
        lines = [line for line in block.splitlines() if not line.startswith((":", "retry:"))]
        assert len(lines) == 2, block
        assert lines[0].startswith("id: ")
        assert lines[1].startswith('data: {"jsonrpc":"2.0","id":"req-7","result":')


def test_timestamps_are_iso8601_utc_with_milliseconds(url: str) -> None:
    events = a2a.send_stream(url, "steps 1")
    stamp = events[-1].result["statusUpdate"]["status"]["timestamp"]
    assert len(stamp) == 24
    assert stamp.endswith("Z")
    assert stamp[10] == "T"


def test_path_without_trailing_slash_and_root_serve_the_same_agent(gateway: Process) -> None:
    for url in (gateway.address + "/agents/scripted", gateway.address + "/"):
        events = a2a.send_stream(url, "steps 1")
        assert events[-1].state == "TASK_STATE_COMPLETED"


def test_direct_reply_streams_one_message_without_id(url: str) -> None:
    events = a2a.send_stream(url, "reply hello")
    assert len(events) == 1
    assert events[0].id is None
    message = events[0].result["message"]
    assert message["role"] == "ROLE_AGENT"
    assert message["parts"] == [{"text": "direct hello"}]
    assert "taskId" not in message


def _start_task(url: str, text: str) -> dict[str, Any]:
    body = a2a.rpc(
        url,
        "SendMessage",
        {"message": a2a.user_message(text), "configuration": {"returnImmediately": True}},
    )
    task: dict[str, Any] = body["result"]["task"]
    return task


def test_subscribers_receive_the_same_events_in_the_same_order(url: str) -> None:
    task = _start_task(url, "steps 10 200")  # long enough for 5 threads to join
    results: list[list[a2a.SseEvent]] = [[] for _ in range(5)]

    def subscribe(index: int) -> None:
        results[index] = a2a.stream(url, "SubscribeToTask", {"id": task["id"]})

    threads = [threading.Thread(target=subscribe, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for events in results:
        assert events[0].kind == "task"
        assert events[-1].state == "TASK_STATE_COMPLETED"
    # Everyone joined at some point; after the snapshot, the tails agree event by event.
    last_ids = [int(events[-1].id or 0) for events in results]
    assert len(set(last_ids)) == 1
    # Each tail is consecutive ids from just after its snapshot (no gap, no duplicate, in
    # order), and where two tails overlap they hold the same events in the same order.
    full = max(results, key=len)
    reference = [(e.id, e.data["result"]) for e in full[1:]]
    for events in results:
        snapshot = int(events[0].id or 0)
        tail = [(e.id, e.data["result"]) for e in events[1:]]
        assert [int(i or 0) for i, _ in tail] == list(range(snapshot + 1, last_ids[0] + 1))
        assert tail == reference[len(reference) - len(tail) :]


def test_subscribe_snapshot_carries_the_id_of_the_last_event_it_covers(url: str) -> None:
    task = _start_task(url, "steps 6 100")
    events = a2a.stream(url, "SubscribeToTask", {"id": task["id"]})
    first_live = int(events[1].id or 0)
    assert int(events[0].id or 0) == first_live - 1
    assert [int(e.id or 0) for e in events[1:]] == list(
        range(first_live, first_live + len(events) - 1)
    )


def test_client_disconnect_does_not_cancel_the_task(url: str) -> None:
    events = a2a.stream(
        url, "SendStreamingMessage", {"message": a2a.user_message("steps 4 100")}, limit=2
    )
    task_id = events[0].result["task"]["id"]
    deadline = time.monotonic() + 20
    state = ""
    while time.monotonic() < deadline:
        state = a2a.rpc(url, "GetTask", {"id": task_id})["result"]["status"]["state"]
        if state == "TASK_STATE_COMPLETED":
            break
        time.sleep(0.05)
    assert state == "TASK_STATE_COMPLETED"


def test_subscribe_to_a_finished_task_is_unsupported(url: str) -> None:
    task_id = a2a.send_stream(url, "steps 1")[0].result["task"]["id"]
    error = a2a.rpc(url, "SubscribeToTask", {"id": task_id})["error"]
    assert error["code"] == -32004


def test_subscribe_to_an_unknown_task_is_task_not_found(url: str) -> None:
    error = a2a.rpc(url, "SubscribeToTask", {"id": "no-such-task"})["error"]
    assert error["code"] == -32001


def test_keepalive_comments_flow_on_an_idle_stream(url: str) -> None:
    task = _start_task(url, "hang")
    body = a2a.request("SubscribeToTask", {"id": task["id"]})
    seen = b""
    with httpx.stream("POST", url, json=body, headers=a2a.V1, timeout=30) as response:
        for chunk in response.iter_bytes():
            seen += chunk
            if b": keep-alive\n" in seen:
                break
    assert b": keep-alive\n" in seen
    a2a.rpc(url, "CancelTask", {"id": task["id"]})
