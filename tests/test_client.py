"""a2a_client against a real gateway (and a cutting proxy in front of it)."""

from __future__ import annotations

import anyio
import pytest

from a2a_client import (
    A2AClient,
    A2AError,
    ArtifactEvent,
    Event,
    Message,
    MessageEvent,
    StatusEvent,
    Task,
    TaskEvent,
)
from tests import a2a
from tests.http_stub import Request, StubServer, json_response
from tests.proxy import CuttingProxy
from tests.servers import Process

pytestmark = pytest.mark.anyio


@pytest.fixture
def url(gateway: Process) -> str:
    return gateway.address + "/agents/scripted/"


async def collect(client: A2AClient, text: str, task_id: str | None = None) -> list[Event]:
    with anyio.fail_after(30):
        return [event async for event in client.stream(text, task_id=task_id)]


async def test_stream_yields_typed_events_in_order(url: str) -> None:
    async with A2AClient(url) as client:
        events = await collect(client, "steps 4")
    assert isinstance(events[0], TaskEvent)
    assert events[0].task.state == "submitted"
    statuses = [e for e in events if isinstance(e, StatusEvent)]
    assert [s.progress for s in statuses] == [25, 50, 75, 100, None]
    assert [s.message_text for s in statuses] == ["step 1", "step 2", "step 3", "step 4", "done"]
    chunks = [e for e in events if isinstance(e, ArtifactEvent)]
    assert [(c.text, c.append, c.last_chunk) for c in chunks] == [
        ("part0;", False, False),
        ("part1;", True, False),
        ("part2;", True, True),
    ]
    assert chunks[0].artifact_id == "a1"
    assert chunks[0].name == "out"
    last = events[-1]
    assert isinstance(last, StatusEvent)
    assert last.state == "completed"
    assert last.final
    assert [e.id for e in events] == list(range(1, len(events) + 1))


async def test_a_cut_connection_resumes_with_every_event_exactly_once(url: str) -> None:
    """The proxy cuts the stream mid-event three times; the client resumes each time."""
    with CuttingProxy(url, cut_after=1500, cuts=3) as proxy:
        async with A2AClient(proxy.url + "/agents/scripted/", backoff=0.05) as client:
            events = await collect(client, "steps 12 40")
        assert proxy.cuts_done == 3, proxy
    task_id = events[0].raw["task"]["id"]
    replay = a2a.events(f"{url}tasks/{task_id}/events?lastEventId=0")
    assert [(e.id, e.raw) for e in events] == [(int(r.id or 0), r.result) for r in replay]
    assert len(events) == 12 + 3 + 2


async def test_send_get_list_and_cancel(url: str) -> None:
    async with A2AClient(url) as client:
        done = await client.send("steps 2")
        assert isinstance(done, Task)
        assert done.state == "completed"
        assert done.artifacts[0].text == "part0;part1;part2;"
        assert done.status_text == "done"
        assert done.progress == 100
        assert (await client.get(done.id)).state == "completed"
        reply = await client.send("reply hello there")
        assert isinstance(reply, Message)
        assert reply.text == "direct hello there"
        running = await client.send("hang", return_immediately=True)
        assert isinstance(running, Task)
        assert not running.final
        page = await client.list(page_size=5)
        assert running.id in [t.id for t in page.tasks]
        assert page.total_size >= 2
        canceled = await client.cancel(running.id)
        assert canceled.state == "canceled"
        with pytest.raises(A2AError) as info:
            await client.cancel(running.id)
        assert info.value.code == -32002
        with pytest.raises(A2AError) as missing:
            await client.get("no-such-task")
        assert missing.value.code == -32001
        assert missing.value.reason == "TASK_NOT_FOUND"


async def test_a_direct_reply_is_one_message_event(url: str) -> None:
    async with A2AClient(url) as client:
        events = await collect(client, "reply hi")
    assert len(events) == 1
    assert isinstance(events[0], MessageEvent)
    assert events[0].message.text == "direct hi"
    assert events[0].id is None


async def test_subscribe_from_an_id_and_follow_a_running_task(url: str) -> None:
    async with A2AClient(url) as client:
        task = await client.send("steps 6 40", return_immediately=True)
        assert isinstance(task, Task)
        with anyio.fail_after(30):
            live = [e async for e in client.subscribe(task.id)]
            replay = [e async for e in client.subscribe(task.id, last_event_id=3)]
    assert isinstance(live[0], TaskEvent)
    assert live[0].task.id == task.id
    assert isinstance(live[-1], StatusEvent)
    assert live[-1].state == "completed"
    assert [e.id for e in replay] == list(range(4, 6 + 3 + 3))


async def test_input_required_then_the_next_turn(url: str) -> None:
    async with A2AClient(url) as client:
        first = await collect(client, "ask")
        last = first[-1]
        assert isinstance(last, StatusEvent)
        assert last.state == "input-required"
        assert last.final
        task_id = first[0].raw["task"]["id"]
        second = await collect(client, "blue", task_id=task_id)
    end = second[-1]
    assert isinstance(end, StatusEvent)
    assert end.state == "completed"
    assert end.message_text == "answered: blue"


async def test_a_failed_task_says_why(url: str) -> None:
    async with A2AClient(url) as client:
        events = await collect(client, "error-midstream")
    last = events[-1]
    assert isinstance(last, StatusEvent)
    assert last.state == "failed"
    assert "the model crashed" in last.message_text
    assert last.metadata["error"]["reason"] == "AGENT_ERROR"


async def test_the_token_and_headers_are_sent() -> None:
    """What arrives at a loopback server, not what the client meant to send."""
    card = {"name": "stub", "capabilities": {"streaming": True}, "url": "x"}
    task = {"id": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_WORKING"}}

    def answer(request: Request) -> bytes:
        if request.method == "GET":
            return json_response(card)
        return json_response({"jsonrpc": "2.0", "id": request.json()["id"], "result": task})

    async with (
        StubServer(answer) as server,
        A2AClient(server.url, token="s3cret", headers={"X-Tenant-Id": "t1"}) as client,
    ):
        await client.get("t1")
    posted = [r for r in server.requests if r.method == "POST"]
    assert len(posted) == 1
    assert posted[0].headers["authorization"] == "Bearer s3cret"
    assert posted[0].headers["x-tenant-id"] == "t1"
    assert posted[0].headers["a2a-version"] == "1.0"
    assert posted[0].json()["method"] == "GetTask"
