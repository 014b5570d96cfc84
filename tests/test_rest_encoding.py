"""The REST binding's pure parts, in-process: error bodies, SSE framing (including an error
after the stream started), content negotiation and typed query parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from starlette.datastructures import QueryParams

from gateway.bindings.rest import query, status
from gateway.bindings.rest.handler import Framing
from gateway.core import errors, request_errors
from gateway.core.events import Event
from gateway.http import sse

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("error", "code", "grpc_status", "reason"),
    [
        (errors.task_not_found("t1"), 404, "NOT_FOUND", "TASK_NOT_FOUND"),
        (
            errors.task_not_cancelable("t1", "done"),
            400,
            "FAILED_PRECONDITION",
            "TASK_NOT_CANCELABLE",
        ),
        (
            errors.push_not_supported(),
            400,
            "FAILED_PRECONDITION",
            "PUSH_NOTIFICATION_NOT_SUPPORTED",
        ),
        (errors.invalid_agent_response("x"), 500, "INTERNAL", "INVALID_AGENT_RESPONSE"),
        (errors.too_many("streams", 2), 429, "RESOURCE_EXHAUSTED", "TOO_MANY_STREAMS"),
        (errors.events_expired("t1", 9, 3), 410, "OUT_OF_RANGE", "EVENTS_EXPIRED"),
        (errors.shutting_down(), 503, "UNAVAILABLE", "SHUTTING_DOWN"),
        (request_errors.route_not_found("GET", "/x"), 404, "NOT_FOUND", "ROUTE_NOT_FOUND"),
        (
            request_errors.method_not_allowed("PUT", "/x", "GET"),
            405,
            "UNIMPLEMENTED",
            "METHOD_NOT_ALLOWED",
        ),
    ],
)
def test_error_body_is_a_google_rpc_status(
    error: errors.A2AError, code: int, grpc_status: str, reason: str
) -> None:
    body = orjson.loads(status.body(error))
    assert body == {
        "error": {
            "code": code,
            "status": grpc_status,
            "message": error.message,
            "details": error.to_json()["data"],
        }
    }
    assert body["error"]["details"][0]["reason"] == reason


def test_invalid_params_carry_bad_request_field_violations() -> None:
    body = orjson.loads(status.body(request_errors.invalid_params([("message.parts", "required")])))
    bad_request = body["error"]["details"][1]
    assert bad_request["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert bad_request["fieldViolations"] == [{"field": "message.parts", "description": "required"}]


def test_framing_writes_ids_and_bare_stream_responses() -> None:
    framing = Framing()
    event = Event(7, {"statusUpdate": {"taskId": "t"}}, False)
    assert framing.event(event) == b'id: 7\ndata: {"statusUpdate":{"taskId":"t"}}\n\n'
    reply = Event(0, {"message": {"messageId": "m"}}, True)
    assert framing.event(reply) == b'data: {"message":{"messageId":"m"}}\n\n'


async def test_an_error_after_the_first_event_is_the_last_event_of_the_stream() -> None:
    async def batches() -> AsyncIterator[list[Event]]:
        yield [Event(1, {"task": {"id": "t"}}, False)]
        raise errors.events_expired("t", 5)

    chunks = [chunk async for chunk in sse.body(batches(), Framing())]
    text = b"".join(chunks)
    head, tail = text.split(b"\n\n", 1)
    assert head == b'retry: 3000\nid: 1\ndata: {"task":{"id":"t"}}'
    assert tail.startswith(b"event: error\ndata: ")
    assert tail.endswith(b"\n\n")
    error = orjson.loads(tail.removeprefix(b"event: error\ndata: "))
    assert error["error"]["code"] == 410
    assert error["error"]["details"][0]["reason"] == "EVENTS_EXPIRED"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "application/a2a+json"),
        ({"accept": "*/*"}, "application/a2a+json"),
        ({"accept": "application/a2a+json, application/json"}, "application/a2a+json"),
        ({"accept": "application/json"}, "application/json"),
        ({"content-type": "application/json"}, "application/json"),
        ({"content-type": "application/a2a+json"}, "application/a2a+json"),
    ],
)
def test_media_type_follows_what_the_client_names(headers: dict[str, str], expected: str) -> None:
    assert status.media_type(headers) == expected


def test_query_params_are_typed_by_field() -> None:
    got = query.params(
        "ListTasks",
        QueryParams(
            "contextId=c&status=TASK_STATE_WORKING&pageSize=5&includeArtifacts=false"
            "&statusTimestampAfter=2026-01-01T00:00:00Z&unknown=1"
        ),
    )
    assert got == {
        "contextId": "c",
        "status": "TASK_STATE_WORKING",
        "pageSize": 5,
        "includeArtifacts": False,
        "statusTimestampAfter": "2026-01-01T00:00:00Z",
    }
    assert query.params("GetTask", QueryParams("historyLength=0")) == {"historyLength": 0}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("pageSize=1.5", "pageSize"),
        ("pageSize=", "pageSize"),
        ("pageSize=99999999999", "pageSize"),
        ("includeArtifacts=True", "includeArtifacts"),
        ("historyLength=1&historyLength=2", "historyLength"),
    ],
)
def test_bad_query_params_name_their_field(text: str, field: str) -> None:
    with pytest.raises(errors.A2AError) as raised:
        query.params("ListTasks", QueryParams(text))
    assert raised.value.reason == "INVALID_PARAMS"
    assert raised.value.metadata["fields"] == field
