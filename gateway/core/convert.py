"""Protobuf <-> A2A v1.0 JSON, for the contract in protos/task_service.proto.

Agent output (the hot path) is converted by hand, field by field, straight from the
protobuf objects: no reflection, no validation of our own output. Input toward the agent
(once per turn) uses `json_format.ParseDict`, since our proto mirrors A2A's JSON names.
"""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf import json_format, struct_pb2

from generated import task_service_pb2 as pb


def value_to_py(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [value_to_py(v) for v in value.list_value.values]
    return None


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return {key: value_to_py(value) for key, value in struct.fields.items()}


def dict_to_struct(data: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(data)
    return struct


def part_to_json(part: pb.Part) -> dict[str, Any]:
    kind = part.WhichOneof("content")
    out: dict[str, Any]
    if kind == "text":
        out = {"text": part.text}
    elif kind == "raw":
        out = {"raw": base64.b64encode(part.raw).decode("ascii")}
    elif kind == "url":
        out = {"url": part.url}
    elif kind == "data":
        out = {"data": value_to_py(part.data)}
    else:
        raise ValueError("a part has no content (set one of text, raw, url, data)")
    if part.HasField("metadata"):
        out["metadata"] = struct_to_dict(part.metadata)
    if part.filename:
        out["filename"] = part.filename
    if part.media_type:
        out["mediaType"] = part.media_type
    return out


def message_to_json(message: pb.Message, *, role: str) -> dict[str, Any]:
    """Message -> JSON. Ids are left as the agent sent them; the bridge checks and fills them."""
    out: dict[str, Any] = {
        "messageId": message.message_id,
        "contextId": message.context_id,
        "taskId": message.task_id,
        "role": role,
        "parts": [part_to_json(p) for p in message.parts],
    }
    if message.HasField("metadata"):
        out["metadata"] = struct_to_dict(message.metadata)
    if message.extensions:
        out["extensions"] = list(message.extensions)
    if message.reference_task_ids:
        out["referenceTaskIds"] = list(message.reference_task_ids)
    return out


def artifact_to_json(artifact: pb.Artifact) -> dict[str, Any]:
    out: dict[str, Any] = {"artifactId": artifact.artifact_id}
    if artifact.name:
        out["name"] = artifact.name
    if artifact.description:
        out["description"] = artifact.description
    out["parts"] = [part_to_json(p) for p in artifact.parts]
    if artifact.HasField("metadata"):
        out["metadata"] = struct_to_dict(artifact.metadata)
    if artifact.extensions:
        out["extensions"] = list(artifact.extensions)
    return out


def message_from_json(message: dict[str, Any]) -> pb.Message:
    return json_format.ParseDict(message, pb.Message(), ignore_unknown_fields=True)


def artifact_from_json(artifact: dict[str, Any]) -> pb.Artifact:
    return json_format.ParseDict(artifact, pb.Artifact(), ignore_unknown_fields=True)


_STATE_NAMES: dict[int, str] = {int(value): name for name, value in pb.TaskState.items()}


def state_name(state: int) -> str:
    name = _STATE_NAMES.get(state)
    return pb.TaskState.Name(state) if name is None else name  # type: ignore[arg-type]
