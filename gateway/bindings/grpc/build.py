"""Stream events (v1.0 JSON) to `a2a_pb2` messages without `json_format`, for the hot path.

`json_format.ParseDict` is pure Python and generic: about 8 times the cost of building the
message directly (measured on an artifact chunk). Every streamed event is built once, so
this is the gRPC binding's main cost per event. `stream_response` builds the messages a
stream carries (Task, Message, TaskStatusUpdateEvent, TaskArtifactUpdateEvent and what they
hold) field by field; a key it does not know, or a value of an unexpected type, raises
`Unknown`, and the caller falls back to `ParseDict`. So the result is always what ParseDict
would give; tests/test_grpc_convert.py checks the two agree.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format


class Unknown(Exception):
    """A shape this module does not build: use json_format."""


Json = dict[str, Any]


def _check(body: Json, known: frozenset[str]) -> None:
    if not isinstance(body, dict) or not known.issuperset(body):
        raise Unknown


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise Unknown
    return value


def _strs(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise Unknown
    return [_str(v) for v in value]


def _metadata(target: Any, value: Any) -> None:
    if not isinstance(value, dict):
        raise Unknown
    target.SetInParent()  # present even when empty, as json_format makes it
    target.update(value)


_PART = frozenset({"text", "raw", "url", "data", "metadata", "filename", "mediaType"})


def part(body: Json) -> pb.Part:
    _check(body, _PART)
    out = pb.Part()
    if "text" in body:
        out.text = _str(body["text"])
    if "raw" in body:
        out.raw = base64.b64decode(_str(body["raw"]), validate=True)
    if "url" in body:
        out.url = _str(body["url"])
    if "data" in body:
        json_format.ParseDict(body["data"], out.data)
    if "metadata" in body:
        _metadata(out.metadata, body["metadata"])
    if "filename" in body:
        out.filename = _str(body["filename"])
    if "mediaType" in body:
        out.media_type = _str(body["mediaType"])
    return out


_MESSAGE = frozenset(
    {
        "messageId",
        "contextId",
        "taskId",
        "role",
        "parts",
        "metadata",
        "extensions",
        "referenceTaskIds",
    }
)


def message(body: Json) -> pb.Message:
    _check(body, _MESSAGE)
    out = pb.Message(
        message_id=_str(body.get("messageId", "")),
        context_id=_str(body.get("contextId", "")),
        task_id=_str(body.get("taskId", "")),
        role=_str(body.get("role", "ROLE_UNSPECIFIED")),
        parts=[part(p) for p in body.get("parts", ())],
        extensions=_strs(body.get("extensions", [])),
        reference_task_ids=_strs(body.get("referenceTaskIds", [])),
    )
    if "metadata" in body:
        _metadata(out.metadata, body["metadata"])
    return out


_STATUS = frozenset({"state", "message", "timestamp"})


def status(body: Json) -> pb.TaskStatus:
    _check(body, _STATUS)
    out = pb.TaskStatus(state=_str(body.get("state", "TASK_STATE_UNSPECIFIED")))
    if "message" in body:
        out.message.CopyFrom(message(body["message"]))
    if "timestamp" in body:
        out.timestamp.FromJsonString(_str(body["timestamp"]))
    return out


_ARTIFACT = frozenset({"artifactId", "name", "description", "parts", "metadata", "extensions"})


def artifact(body: Json) -> pb.Artifact:
    _check(body, _ARTIFACT)
    out = pb.Artifact(
        artifact_id=_str(body.get("artifactId", "")),
        name=_str(body.get("name", "")),
        description=_str(body.get("description", "")),
        parts=[part(p) for p in body.get("parts", ())],
        extensions=_strs(body.get("extensions", [])),
    )
    if "metadata" in body:
        _metadata(out.metadata, body["metadata"])
    return out


_TASK = frozenset({"id", "contextId", "status", "artifacts", "history", "metadata"})


def task(body: Json) -> pb.Task:
    _check(body, _TASK)
    out = pb.Task(
        id=_str(body.get("id", "")),
        context_id=_str(body.get("contextId", "")),
        artifacts=[artifact(a) for a in body.get("artifacts", ())],
        history=[message(m) for m in body.get("history", ())],
    )
    if "status" in body:
        out.status.CopyFrom(status(body["status"]))
    if "metadata" in body:
        _metadata(out.metadata, body["metadata"])
    return out


_STATUS_UPDATE = frozenset({"taskId", "contextId", "status", "metadata"})


def status_update(body: Json) -> pb.TaskStatusUpdateEvent:
    _check(body, _STATUS_UPDATE)
    out = pb.TaskStatusUpdateEvent(
        task_id=_str(body.get("taskId", "")), context_id=_str(body.get("contextId", ""))
    )
    if "status" in body:
        out.status.CopyFrom(status(body["status"]))
    if "metadata" in body:
        _metadata(out.metadata, body["metadata"])
    return out


_ARTIFACT_UPDATE = frozenset({"taskId", "contextId", "artifact", "append", "lastChunk", "metadata"})


def artifact_update(body: Json) -> pb.TaskArtifactUpdateEvent:
    _check(body, _ARTIFACT_UPDATE)
    append, last_chunk = body.get("append", False), body.get("lastChunk", False)
    if not isinstance(append, bool) or not isinstance(last_chunk, bool):
        raise Unknown
    out = pb.TaskArtifactUpdateEvent(
        task_id=_str(body.get("taskId", "")),
        context_id=_str(body.get("contextId", "")),
        append=append,
        last_chunk=last_chunk,
    )
    if "artifact" in body:
        out.artifact.CopyFrom(artifact(body["artifact"]))
    if "metadata" in body:
        _metadata(out.metadata, body["metadata"])
    return out


_PAYLOADS: dict[str, tuple[str, Callable[[Json], Any]]] = {
    "task": ("task", task),
    "message": ("message", message),
    "statusUpdate": ("status_update", status_update),
    "artifactUpdate": ("artifact_update", artifact_update),
}


def stream_response(body: Json) -> pb.StreamResponse:
    """`body` (a v1.0 StreamResponse JSON object) as the message; `Unknown` when it holds
    anything this module does not build (the caller uses json_format then)."""
    if len(body) != 1:
        raise Unknown
    [(key, value)] = body.items()
    entry = _PAYLOADS.get(key)
    if entry is None:
        raise Unknown
    field, build = entry
    out = pb.StreamResponse()
    try:
        getattr(out, field).CopyFrom(build(value))
    except (ValueError, TypeError, AttributeError) as exc:  # a bad enum name, base64, time
        raise Unknown from exc
    return out
