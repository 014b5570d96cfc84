"""The nesting limit (core/params.py MAX_DEPTH): just under it every free-form field reaches
the agent; just over it is -32602 naming the field, on every method and version, never
-32603 from protobuf's recursion limit."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.core import convert, errors, params
from gateway.core.params import MAX_DEPTH
from generated import task_service_pb2 as pb
from tests import a2a
from tests.servers import Process


def nest(levels: int) -> Any:
    """`levels` objects inside each other (levels=1: {"k": 1})."""
    value: Any = 1
    for _ in range(levels):
        value = {"k": value}
    return value


# Free-form fields and how many levels of the params document lie above each one's value.
FIELDS = {
    "metadata": 1,  # params.metadata
    "message.metadata": 2,  # params.message.metadata
    "message.parts[0].metadata": 4,  # params.message.parts[i]
    "message.parts[1].data": 4,
}


def send_params(field: str, levels: int) -> dict[str, Any]:
    """SendMessage params whose `field` holds `levels` nested objects."""
    message = a2a.user_message("steps 1")
    out: dict[str, Any] = {"message": message}
    value = nest(levels)
    if field == "metadata":
        out["metadata"] = value
    elif field == "message.metadata":
        message["metadata"] = value
    elif field == "message.parts[0].metadata":
        message["parts"][0]["metadata"] = value
    else:  # beside the text part that says what the agent does; a type the agent accepts
        message["parts"].append({"data": value, "mediaType": "text/plain"})
    return out


def deepest(field: str) -> int:
    return MAX_DEPTH - FIELDS[field]


@pytest.mark.parametrize("field", FIELDS)
def test_the_deepest_params_allowed_survive_protobuf_both_ways(field: str) -> None:
    sent = send_params(field, deepest(field))
    params.check_depth(sent)
    message = convert.message_from_json(sent["message"])
    request = pb.RunRequest(message=message, history=[message])
    if "metadata" in sent:
        request.metadata.CopyFrom(convert.dict_to_struct(sent["metadata"]))
    decoded = pb.RunRequest.FromString(request.SerializeToString())
    assert decoded == request


@pytest.mark.parametrize("field", FIELDS)
def test_one_level_more_is_invalid_params_naming_the_field(field: str) -> None:
    with pytest.raises(errors.A2AError) as caught:
        params.check_depth(send_params(field, deepest(field) + 1))
    assert caught.value.code == errors.INVALID_PARAMS
    named = caught.value.details[0]["fieldViolations"][0]["field"]
    assert named.startswith(field + ".k"), named


def test_arrays_count_as_levels_and_the_check_is_iterative() -> None:
    value: Any = []
    for _ in range(10_000):
        value = [value]
    with pytest.raises(errors.A2AError) as caught:
        params.check_depth({"metadata": value})
    assert caught.value.details[0]["fieldViolations"][0]["field"].startswith("metadata[0][0]")


@pytest.fixture
def url(gateway: Process) -> str:
    return gateway.address + "/agents/scripted/"


@pytest.mark.parametrize("field", FIELDS)
def test_just_under_the_limit_the_task_runs(url: str, field: str) -> None:
    reply = a2a.rpc(url, "SendMessage", send_params(field, deepest(field)))
    assert reply["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED", reply


@pytest.mark.parametrize("field", FIELDS)
def test_just_over_the_limit_is_minus_32602_naming_the_field(url: str, field: str) -> None:
    error = a2a.rpc(url, "SendMessage", send_params(field, deepest(field) + 1))["error"]
    assert error["code"] == -32602, error
    assert error["data"][1]["fieldViolations"][0]["field"].startswith(field)


def test_the_reported_case_34_objects_deep_is_invalid_params(url: str) -> None:
    message = {**a2a.user_message("steps 1"), "metadata": nest(34)}
    error = a2a.rpc(url, "SendMessage", {"message": message})["error"]
    assert error["code"] == -32602, error
    assert "message.metadata" in error["message"]


@pytest.mark.parametrize(
    ("version", "method", "params"),
    [
        ("1.0", "GetTask", {"id": "x", "metadata": nest(40)}),
        ("1.0", "CancelTask", {"id": "x", "metadata": nest(40)}),
        ("1.0", "ListTasks", {"tenant": nest(40)}),
        ("1.0", "SubscribeToTask", {"id": "x", "metadata": nest(40)}),
        ("1.0", "SendStreamingMessage", {"message": {"metadata": nest(40)}}),
        ("0.3", "message/send", {"message": {"kind": "message", "metadata": nest(40)}}),
        ("0.3", "tasks/get", {"id": "x", "metadata": nest(40)}),
        ("0.3", "tasks/send", {"id": "x", "message": {"metadata": nest(40)}}),
    ],
)
def test_every_method_of_every_version_has_the_limit(
    gateway: Process, version: str, method: str, params: dict[str, Any]
) -> None:
    response = a2a.post(
        gateway.address + "/agents/scripted/",
        a2a_body(method, params),
        **{"A2A-Version": version},
    )
    assert response.status_code == 200
    error = response.json()["error"]
    assert error["code"] == -32602, error


def a2a_body(method: str, params: dict[str, Any]) -> bytes:
    return orjson.dumps(a2a.request(method, params))
