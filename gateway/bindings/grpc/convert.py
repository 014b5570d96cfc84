"""Conversion between the normative protobuf messages (`a2a.types.a2a_pb2`, shipped by the
official a2a-sdk) and the gateway's v1.0 JSON, which is ProtoJSON of the same messages.

Requests: the wire bytes are parsed here (not by grpcio), so a malformed message is our
INVALID_ARGUMENT with reason PARSE_ERROR rather than grpcio's generic INTERNAL. The message
becomes ProtoJSON (`MessageToDict`: camelCase names, enum names, bytes as base64, absent
fields omitted) and is validated by core/params.py like any JSON-RPC params, so a missing
field is named the same way (`message.role`). ProtoJSON's one lossy corner: `Struct` numbers
are doubles, so `metadata: {n: 1}` sent over gRPC is stored as `1.0`.

Results: a method's JSON result is parsed into the method's response message (unknown JSON
fields are dropped, which only a gateway bug could produce) and serialized.

Stream events carry their event id (the resume extension) as an unknown field of
`StreamResponse`: field `EVENT_ID_FIELD` (varint), appended to the message's bytes. Protobuf
parsers keep unknown fields and ignore them, so a client that does not know the extension
sees exactly the normative message; one that does reads the field (see `event_id_of`).
Event bodies are encoded once per event and shared by every gRPC subscriber, by build.py
(json_format's result, faster) where it knows the shape.
"""

from __future__ import annotations

from typing import Any

from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from gateway.bindings.grpc import build
from gateway.core import request_errors, resume
from gateway.core.events import Event

EVENT_ID_FIELD = resume.GRPC_EVENT_ID_FIELD
"""The field number of the event id on each streamed `StreamResponse`: unknown to a2a.proto,
far above its own numbers (1-4) and protobuf's reserved 19000-19999."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_EVENT_ID_TAG = _varint(EVENT_ID_FIELD << 3)  # wire type 0: varint


def parse(data: bytes, message_type: type[Message], method: str) -> dict[str, Any]:
    """The request `data` of `method` as v1.0 JSON params; INVALID_ARGUMENT PARSE_ERROR when
    it is not a `message_type`. `tenant` (the agent, see routing) is left in."""
    message = message_type()
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:  # upb raises DecodeError
        raise request_errors.parse_error(
            f"the {method} request is not a valid {message.DESCRIPTOR.full_name} ({exc})"
        ) from None
    return json_format.MessageToDict(message)


def encode(result: dict[str, Any], message_type: type[Message]) -> bytes:
    """A method's JSON result as the serialized `message_type`."""
    message = json_format.ParseDict(result, message_type(), ignore_unknown_fields=True)
    return message.SerializeToString()


def _stream_response(body: dict[str, Any]) -> bytes:
    try:
        return build.stream_response(body).SerializeToString()
    except build.Unknown:
        return encode(body, pb.StreamResponse)


def event(item: Event) -> bytes:
    """One stream event: its `StreamResponse`, then its event id (none for seq 0, a direct
    message reply, which has no id on SSE either). Cached on the event."""
    data = item.encoded_as("grpc", _stream_response)
    if item.seq == 0:
        return data
    return data + _EVENT_ID_TAG + _varint(item.seq)


def event_id_of(message: Message) -> int | None:
    """The event id a streamed `StreamResponse` carries (None: none, a direct reply)."""
    for unknown in UnknownFieldSet(message):  # type: ignore[attr-defined]
        if unknown.field_number == EVENT_ID_FIELD and unknown.wire_type == 0:
            value: int = unknown.data
            return value
    return None
