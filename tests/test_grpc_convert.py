"""The gRPC binding's conversions, in-process: ProtoJSON round trips through the normative
proto, the event id carried as an unknown field, errors as google.rpc.Status."""

from __future__ import annotations

from typing import Any

import pytest
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2

from gateway.bindings.grpc import build, convert, status
from gateway.core import errors, request_errors
from gateway.core.events import Event

TASK: dict[str, Any] = {
    "id": "t1",
    "contextId": "c1",
    "status": {
        "state": "TASK_STATE_WORKING",
        "timestamp": "2026-12-02T01:02:03.456Z",
        "message": {
            "messageId": "m2",
            "role": "ROLE_AGENT",
            "parts": [{"text": "half way"}],
            "taskId": "t1",
        },
    },
    "history": [
        {
            "messageId": "m1",
            "role": "ROLE_USER",
            "parts": [
                {"text": "hi"},
                {"raw": "AAEC", "mediaType": "application/octet-stream", "filename": "b.bin"},
                {"url": "https://example.com/a.png", "mediaType": "image/png"},
                {"data": {"k": [1.5, "v", None, True]}},
            ],
        }
    ],
    "artifacts": [{"artifactId": "a1", "name": "out", "parts": [{"text": "x"}]}],
    "metadata": {"progress": 50.0},
}


@pytest.mark.parametrize(
    "body",
    [
        {"task": TASK},
        {"statusUpdate": {"taskId": "t1", "contextId": "c1", "status": TASK["status"]}},
        {
            "artifactUpdate": {
                "taskId": "t1",
                "contextId": "c1",
                "artifact": TASK["artifacts"][0],
                "append": True,
                "lastChunk": True,
            }
        },
        {"message": TASK["status"]["message"]},
    ],
)
def test_stream_events_round_trip_through_the_normative_proto(body: dict[str, Any]) -> None:
    message = pb.StreamResponse.FromString(convert.event(Event(7, body, False)))
    assert json_format.MessageToDict(message) == body
    assert convert.event_id_of(message) == 7


def test_a_direct_reply_carries_no_event_id() -> None:
    message = pb.StreamResponse.FromString(convert.event(Event(0, {"message": {}}, True)))
    assert convert.event_id_of(message) is None
    assert message.HasField("message")


def test_an_event_is_encoded_once_for_every_subscriber() -> None:
    event = Event(3, {"task": TASK}, False)
    assert convert.event(event) == convert.event(event)
    assert event.encoded_as("grpc", lambda body: b"never called") != b"never called"


def test_requests_become_v1_params() -> None:
    request = pb.SendMessageRequest(
        tenant="echo",
        message=pb.Message(message_id="m", role=pb.ROLE_USER, parts=[pb.Part(text="hi")]),
        configuration=pb.SendMessageConfiguration(return_immediately=True, history_length=0),
    )
    params = convert.parse(request.SerializeToString(), pb.SendMessageRequest, "SendMessage")
    assert params == {
        "tenant": "echo",
        "message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]},
        "configuration": {"returnImmediately": True, "historyLength": 0},
    }


def test_bytes_that_are_not_the_message_are_a_parse_error() -> None:
    with pytest.raises(errors.A2AError) as caught:
        convert.parse(b"\xff\xff", pb.GetTaskRequest, "GetTask")
    assert (caught.value.code, caught.value.reason) == (errors.PARSE_ERROR, "PARSE_ERROR")


def test_invalid_params_become_error_info_and_bad_request() -> None:
    error = request_errors.invalid_params([("message.parts[0].text", "required")])
    code, message, trailers = status.trailers(error)
    [(key, value)] = trailers
    decoded = status_pb2.Status.FromString(value)
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert decoded.details[0].Unpack(info)
    assert decoded.details[1].Unpack(bad)
    assert (code.name, key, decoded.message) == ("INVALID_ARGUMENT", status.DETAILS_KEY, message)
    assert (info.reason, info.domain) == ("INVALID_PARAMS", "a2a-protocol.org")
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("message.parts[0].text", "required")
    ]


def test_a_rate_limit_carries_retry_info() -> None:
    decoded = status.status_of(errors.rate_limited(1.5))
    retry = error_details_pb2.RetryInfo()
    assert decoded.details[1].Unpack(retry)
    assert retry.retry_delay.ToTimedelta().total_seconds() == 1.5


EVENTS: list[dict[str, Any]] = [
    {"task": TASK},
    {"task": {"id": "t", "contextId": "c", "status": {"state": "TASK_STATE_SUBMITTED"}}},
    {"statusUpdate": {"taskId": "t1", "contextId": "c1", "status": TASK["status"]}},
    {"statusUpdate": {"taskId": "t", "status": {"state": "TASK_STATE_FAILED"}, "metadata": {}}},
    {
        "artifactUpdate": {
            "taskId": "t1",
            "contextId": "c1",
            "artifact": {**TASK["artifacts"][0], "metadata": {"a": {"b": [1, None]}}},
            "append": False,
            "lastChunk": True,
            "metadata": {"progress": 10},
        }
    },
    {"message": {**TASK["history"][0], "extensions": ["x"], "referenceTaskIds": ["t0"]}},
    {"message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"data": 3}]}},
]

ODD: list[dict[str, Any]] = [
    {"statusUpdate": {"taskId": "t", "status": {"state": "TASK_STATE_WORKING"}, "x": 1}},
    {"message": {"messageId": "m", "parts": [{"raw": "-_8"}]}},  # url-safe base64
]


@pytest.mark.parametrize("body", EVENTS + ODD)
def test_the_fast_builder_gives_what_json_format_gives(body: dict[str, Any]) -> None:
    expected = json_format.ParseDict(body, pb.StreamResponse(), ignore_unknown_fields=True)
    try:
        built = build.stream_response(body)
    except build.Unknown:
        assert body in ODD  # not built here: json_format builds it
        built = expected
    else:
        assert body in EVENTS
    assert built == expected
    decoded = pb.StreamResponse.FromString(convert.event(Event(0, body, False)))
    assert decoded == expected
