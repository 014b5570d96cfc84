"""The resume extension over real sockets: SubscribeToTask with Last-Event-ID replays every
event after that id from the task's log, then goes live; none lost, none repeated."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import anyio
import httpx
import pytest
from httpx_sse import aconnect_sse

from tests import a2a
from tests.a2a import SseEvent
from tests.servers import Process

RESUME_URI = "https://github.com/a2a-grpc-gateway/extensions/resume/v1"


@pytest.fixture
def url(gateway: Process) -> str:
    return gateway.address + "/agents/scripted/"


def resume(
    url: str,
    task_id: str,
    last: int | str,
    limit: int | None = None,
    client: httpx.Client | None = None,
) -> list[SseEvent]:
    return a2a.stream(
        url,
        "SubscribeToTask",
        {"id": task_id},
        headers={"Last-Event-ID": str(last)},
        limit=limit,
        client=client,
    )


def wait_state(url: str, task_id: str, state: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    current = ""
    while time.monotonic() < deadline:
        current = a2a.rpc(url, "GetTask", {"id": task_id})["result"]["status"]["state"]
        if current == state:
            return
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} is {current}, not {state}")


def error_of(url: str, task_id: str, last: str) -> dict[str, Any]:
    body = a2a.request("SubscribeToTask", {"id": task_id})
    response = httpx.post(url, json=body, headers={**a2a.V1, "Last-Event-ID": last}, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json"), response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_the_agent_card_advertises_the_extension(url: str) -> None:
    card = httpx.get(url + ".well-known/agent-card.json", timeout=10).json()
    (extension,) = card["capabilities"]["extensions"]
    assert extension["uri"] == RESUME_URI
    assert extension["required"] is False
    assert "Last-Event-ID" in extension["description"]
    assert extension["params"]["retainedEventsPerTask"] == 10_000


def test_resume_a_running_task_replays_after_the_id_then_goes_live(url: str) -> None:
    first = a2a.stream(
        url, "SendStreamingMessage", {"message": a2a.user_message("steps 8 50")}, limit=3
    )
    assert a2a.ids(first) == [1, 2, 3]
    task_id = first[0].result["task"]["id"]
    rest = resume(url, task_id, 3)
    assert a2a.ids(rest) == list(range(4, 14))
    assert rest[-1].state == "TASK_STATE_COMPLETED"
    whole = resume(url, task_id, 0)
    assert [e.result for e in whole] == [e.result for e in first + rest]


def test_resume_a_finished_task_replays_then_closes(url: str) -> None:
    original = a2a.send_stream(url, "steps 3")
    task_id = original[0].result["task"]["id"]
    for last in range(len(original)):
        replayed = resume(url, task_id, last)
        assert a2a.ids(replayed) == list(range(last + 1, len(original) + 1))
        assert [e.result for e in replayed] == [e.result for e in original[last:]]


def test_every_replayed_event_carries_the_new_request_id(url: str) -> None:
    task_id = a2a.send_stream(url, "steps 2")[0].result["task"]["id"]
    body = a2a.request("SubscribeToTask", {"id": task_id}, "resume-1")
    with httpx.stream(
        "POST", url, json=body, headers={**a2a.V1, "Last-Event-ID": "2"}, timeout=30
    ) as response:
        raw = response.read().decode()
    assert raw.startswith("retry: ")
    assert raw.count('"id":"resume-1"') == raw.count("\ndata: ") + raw.startswith("data: ")


def test_without_the_header_a_subscription_is_the_task_then_live_events(url: str) -> None:
    task = a2a.start_task(url, "steps 6 50")
    events = a2a.stream(url, "SubscribeToTask", {"id": task["id"]})
    assert events[0].kind == "task"
    assert a2a.ids(events[1:]) == list(range(a2a.ids(events)[0] + 1, a2a.ids(events)[-1] + 1))


def test_finished_task_without_the_header_is_unsupported_operation(url: str) -> None:
    task_id = a2a.send_stream(url, "steps 1")[0].result["task"]["id"]
    error = a2a.rpc(url, "SubscribeToTask", {"id": task_id})["error"]
    assert error["code"] == -32004
    assert "Last-Event-ID" in error["message"]


def test_resume_of_an_interrupted_task_replays_the_turn_then_follows_the_task(url: str) -> None:
    first = a2a.send_stream(url, "ask")
    assert first[-1].state == "TASK_STATE_INPUT_REQUIRED"
    task_id = first[0].result["task"]["id"]
    # A subscription follows the task to a terminal state (docs/spec.md), so this one stays
    # open after the replay: read exactly the replayed events.
    replayed = resume(url, task_id, 0, limit=len(first))
    assert [(e.id, e.result) for e in replayed] == [(e.id, e.result) for e in first]


@pytest.mark.parametrize("value", ["abc", "-1", "+5", "1.5", "0x10", "", "9" * 40, "1e3", "3, 4"])
def test_a_last_event_id_that_is_not_ours_is_invalid_params(url: str, value: str) -> None:
    task = a2a.start_task(url, "steps 2")
    error = error_of(url, task["id"], value)
    assert error["code"] == -32602
    assert error["data"][0]["metadata"]["fields"] == "Last-Event-ID"
    assert "Last-Event-ID" in error["message"]


def test_a_last_event_id_beyond_the_end_is_invalid_params(url: str) -> None:
    task_id = a2a.send_stream(url, "steps 2")[0].result["task"]["id"]
    error = error_of(url, task_id, "8")
    assert error["code"] == -32602
    assert "beyond the last event" in error["message"]


def test_a_last_event_id_from_a_longer_task_is_refused_on_a_shorter_one(url: str) -> None:
    longer = a2a.send_stream(url, "steps 20")
    shorter = a2a.send_stream(url, "steps 1")
    foreign = longer[-1].id or ""
    error = error_of(url, shorter[0].result["task"]["id"], foreign)
    assert error["code"] == -32602
    assert "beyond the last event" in error["message"]


def test_the_last_id_of_a_finished_task_has_nothing_to_replay(url: str) -> None:
    events = a2a.send_stream(url, "steps 1")
    error = error_of(url, events[0].result["task"]["id"], events[-1].id or "")
    assert error["code"] == -32004
    assert error["data"][0]["reason"] == "NOTHING_TO_REPLAY"


def test_resume_of_an_unknown_task_is_task_not_found(url: str) -> None:
    assert error_of(url, "no-such-task", "1")["code"] == -32001


def test_200_disconnects_at_random_events_lose_and_repeat_nothing(url: str) -> None:
    """One long task (live for most of the run); each cycle reads a random number of
    events, drops the connection, and resumes from the last id it saw."""
    rng = random.Random(4)
    count = 2100
    received = a2a.stream(
        url,
        "SendStreamingMessage",
        {"message": a2a.user_message(f"steps {count} 1")},
        limit=rng.randint(1, 10),
    )
    task_id = received[0].result["task"]["id"]
    with httpx.Client(timeout=30) as client:
        for _ in range(200):
            last = int(received[-1].id or 0)
            batch = resume(url, task_id, last, limit=rng.randint(1, 10), client=client)
            assert a2a.ids(batch) == list(range(last + 1, last + 1 + len(batch)))
            received += batch
    received += resume(url, task_id, int(received[-1].id or 0))
    total = 1 + count + 3 + 1  # the Task, the steps, three chunks, COMPLETED
    assert a2a.ids(received) == list(range(1, total + 1))
    assert received[-1].state == "TASK_STATE_COMPLETED"
    texts = [
        e.result["statusUpdate"]["status"]["message"]["parts"][0]["text"] for e in received[1:4]
    ]
    assert texts == ["step 1", "step 2", "step 3"]
    reference = resume(url, task_id, 0)
    assert [e.result for e in received] == [e.result for e in reference]


@pytest.mark.anyio
async def test_50_subscribers_with_and_without_last_event_id_see_the_same_sequence(
    url: str,
) -> None:
    task = a2a.start_task(url, "steps 300 5")
    task_id = task["id"]
    rng = random.Random(50)
    halfway = anyio.Event()
    results: dict[int, list[SseEvent]] = {}

    async def subscribe(client: httpx.AsyncClient, index: int, last: int | None) -> None:
        if index >= 20:
            await halfway.wait()
        headers = dict(a2a.V1)
        if last is not None:
            headers["Last-Event-ID"] = str(last)
        body = a2a.request("SubscribeToTask", {"id": task_id})
        events: list[SseEvent] = []
        async with aconnect_sse(client, "POST", url, json=body, headers=headers) as source:
            async for sse in source.aiter_sse():
                events.append(SseEvent(sse.id or None, json.loads(sse.data)))
                if index == 0 and len(events) >= 40:
                    halfway.set()
        results[index] = events

    # 0-19 join at once without the header; 20-34 join late without it; 35-49 join late,
    # resuming from 0 or from a random id they might have seen.
    plan: list[int | None] = [None] * 35 + [0] * 5 + [rng.randint(1, 40) for _ in range(10)]
    limits = httpx.Limits(max_connections=60)
    with anyio.fail_after(60):
        async with (
            httpx.AsyncClient(timeout=30, limits=limits) as client,
            anyio.create_task_group() as group,
        ):
            for index, last in enumerate(plan):
                group.start_soon(subscribe, client, index, last)
    reference = resume(url, task_id, 0)
    by_id = {int(e.id or 0): e.result for e in reference}
    final = int(reference[-1].id or 0)
    assert reference[-1].state == "TASK_STATE_COMPLETED"
    assert len(results) == 50
    for index, events in results.items():
        last = plan[index]
        tail = events if last is not None else events[1:]
        start = (last if last is not None else int(events[0].id or 0)) + 1
        assert a2a.ids(tail) == list(range(start, final + 1)), index
        assert [e.result for e in tail] == [by_id[i] for i in range(start, final + 1)], index
        if last is None:
            snapshot = events[0].result["task"]
            assert snapshot["id"] == task_id
