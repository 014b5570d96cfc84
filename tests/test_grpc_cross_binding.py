"""One task across bindings: created over gRPC, followed over JSON-RPC and streamed over REST,
resumed by `Last-Event-ID` over JSON-RPC, REST and the browser events endpoint, cancelled
over gRPC. Same task id, same
event ids, same event contents (compared as ProtoJSON through the normative proto).

Also the gRPC side of the resume extension: a dropped gRPC stream resumed with
`last-event-id` metadata gets exactly the events it missed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from a2a.types import a2a_pb2 as pb
from httpx_sse import connect_sse

from gateway.bindings.grpc.convert import event_id_of
from tests import a2a
from tests.grpc_a2a import (
    TIMEOUT,
    V1,
    as_json,
    failure,
    grpc_address,
    grpc_agent,
    grpc_gateway,
    normalised,
    send_request,
    start_grpc_gateway,
    stub,
)
from tests.redis_server import RedisServer
from tests.servers import Process

__all__ = ["grpc_agent", "grpc_gateway"]  # fixtures

Seen = list[tuple[int | None, dict[str, Any]]]


@pytest.fixture
def channel(grpc_gateway: Process) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grpc_address(grpc_gateway)) as opened:
        yield opened


def read(stream: Iterator[pb.StreamResponse], count: int | None = None) -> Seen:
    """(event id, ProtoJSON) of `count` messages (all when None)."""
    seen: Seen = []
    for message in stream:
        seen.append((event_id_of(message), as_json(message)))
        if count is not None and len(seen) == count:
            break
    return seen


def rest_stream(
    url: str, *, headers: dict[str, str] | None = None, limit: int | None = None
) -> Seen:
    """(event id, normalised StreamResponse) of a REST SSE stream (`POST ...:subscribe`)."""
    seen: Seen = []
    with (
        httpx.Client(timeout=TIMEOUT) as client,
        connect_sse(client, "POST", url, headers={**a2a.V1, **(headers or {})}) as source,
    ):
        assert source.response.status_code == 200, source.response.read()
        for event in source.iter_sse():
            seen.append((int(event.id) if event.id else None, normalised(json.loads(event.data))))
            if limit is not None and len(seen) >= limit:
                break
    return seen


def sse(events: list[a2a.SseEvent]) -> Seen:
    return [(int(e.id) if e.id else None, normalised(e.result)) for e in events]


def test_a_task_is_one_task_across_bindings(grpc_gateway: Process, channel: grpc.Channel) -> None:
    url = f"{grpc_gateway.address}/agents/scripted/"
    a2a_stub = stub(channel)  # type: ignore[arg-type]
    # Created over gRPC: the Task, then WORKING; the agent then waits.
    live = a2a_stub.SendStreamingMessage(send_request("hang"), metadata=V1, timeout=TIMEOUT)
    seen = read(live, 2)
    task_id = seen[0][1]["task"]["id"]
    assert [i for i, _ in seen] == [1, 2]

    # Followed over JSON-RPC from event 1 on: the same event 2.
    followed = a2a.stream(
        url, "SubscribeToTask", {"id": task_id}, headers={"Last-Event-ID": "1"}, limit=1
    )
    assert sse(followed) == seen[1:]
    # Streamed over REST (HTTP+JSON): the current Task, then live; its id is event 2's.
    rest_url = f"{url}tasks/{task_id}:subscribe"
    streamed_rest = rest_stream(rest_url, limit=1)
    assert streamed_rest[0][0] == 2
    assert streamed_rest[0][1]["task"]["id"] == task_id

    # Cancelled over gRPC: the gRPC stream gets the CANCELED event and ends.
    canceled = a2a_stub.CancelTask(pb.CancelTaskRequest(id=task_id), metadata=V1, timeout=TIMEOUT)
    assert canceled.status.state == pb.TASK_STATE_CANCELED
    seen += read(live)
    assert [i for i, _ in seen] == [1, 2, 3]
    assert seen[2][1]["statusUpdate"]["status"]["state"] == "TASK_STATE_CANCELED"

    # Resumed by Last-Event-ID over JSON-RPC, from the browser endpoint, and over gRPC:
    # the same ids and contents as the gRPC stream had.
    resumed = a2a.stream(url, "SubscribeToTask", {"id": task_id}, headers={"Last-Event-ID": "1"})
    assert sse(resumed) == seen[1:]
    replayed = a2a.events(f"{url}tasks/{task_id}/events?lastEventId=0")
    assert sse(replayed) == seen
    assert rest_stream(rest_url, headers={"Last-Event-ID": "0"}) == seen
    again = a2a_stub.SubscribeToTask(
        pb.SubscribeToTaskRequest(id=task_id),
        metadata=(*V1, ("last-event-id", "0")),
        timeout=TIMEOUT,
    )
    assert read(again) == seen

    # GetTask agrees across bindings.
    over_grpc = a2a_stub.GetTask(pb.GetTaskRequest(id=task_id), metadata=V1, timeout=TIMEOUT)
    over_jsonrpc = a2a.rpc(url, "GetTask", {"id": task_id})["result"]
    assert as_json(pb.StreamResponse(task=over_grpc)) == normalised({"task": over_jsonrpc})


def test_a_dropped_grpc_stream_resumes_without_loss_or_duplicates(
    grpc_gateway: Process, channel: grpc.Channel
) -> None:
    a2a_stub = stub(channel)  # type: ignore[arg-type]
    first = a2a_stub.SendStreamingMessage(send_request("steps 4 50"), metadata=V1, timeout=TIMEOUT)
    seen = read(first, 3)
    first.cancel()  # the client goes away; the task goes on
    task_id = seen[0][1]["task"]["id"]
    last = seen[-1][0]
    resumed = a2a_stub.SubscribeToTask(
        pb.SubscribeToTaskRequest(id=task_id),
        metadata=(*V1, ("last-event-id", str(last))),
        timeout=TIMEOUT,
    )
    seen += read(resumed)
    ids = [i for i, _ in seen]
    assert ids == list(range(1, len(ids) + 1))
    assert seen[-1][1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    # The whole sequence is what JSON-RPC replays from the start.
    url = f"{grpc_gateway.address}/agents/scripted/"
    replay = a2a.stream(url, "SubscribeToTask", {"id": task_id}, headers={"Last-Event-ID": "0"})
    assert sse(replay) == seen


def test_resuming_after_the_last_event_of_a_finished_task_is_nothing_to_replay(
    grpc_gateway: Process, channel: grpc.Channel
) -> None:
    a2a_stub = stub(channel)  # type: ignore[arg-type]
    seen = read(
        a2a_stub.SendStreamingMessage(send_request("steps 1"), metadata=V1, timeout=TIMEOUT)
    )
    task_id = seen[0][1]["task"]["id"]
    call = a2a_stub.SubscribeToTask(
        pb.SubscribeToTaskRequest(id=task_id),
        metadata=(*V1, ("last-event-id", str(seen[-1][0]))),
        timeout=TIMEOUT,
    )
    with pytest.raises(grpc.RpcError) as caught:
        read(call)
    got = failure(caught.value)  # type: ignore[arg-type]
    assert (got.code, got.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NOTHING_TO_REPLAY")


def test_a_grpc_stream_resumes_on_another_replica(
    grpc_agent: Process, redis_server: RedisServer
) -> None:
    """Two gateways on one Redis store: a stream started over gRPC on one is resumed over
    gRPC on the other, by event id, without loss or duplicates."""
    store = ["--store", redis_server.url, "--store-prefix", f"grpc-{uuid.uuid4().hex[:8]}:"]
    replicas = [start_grpc_gateway({"scripted": grpc_agent.address}, *store) for _ in range(2)]
    try:
        with (
            grpc.insecure_channel(grpc_address(replicas[0])) as first,
            grpc.insecure_channel(grpc_address(replicas[1])) as second,
        ):
            started = stub(first).SendStreamingMessage(  # type: ignore[arg-type]
                send_request("steps 4 50"), metadata=V1, timeout=TIMEOUT
            )
            seen = read(started, 2)
            started.cancel()
            task_id = seen[0][1]["task"]["id"]
            resumed = stub(second).SubscribeToTask(  # type: ignore[arg-type]
                pb.SubscribeToTaskRequest(id=task_id),
                metadata=(*V1, ("last-event-id", str(seen[-1][0]))),
                timeout=TIMEOUT,
            )
            seen += read(resumed)
        ids = [i for i, _ in seen]
        assert ids == list(range(1, len(ids) + 1))
        assert seen[-1][1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    finally:
        for replica in replicas:
            replica.stop()
