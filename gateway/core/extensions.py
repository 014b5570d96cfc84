"""A2A extensions (v1.0 sections 4.4.4, 4.6, 3.2.6): what a request asks for, what the agent
declares, and what a turn activated.

In: every binding reads the extension URIs a request asks for (the `A2A-Extensions` header on
HTTP, the same metadata key on gRPC) with `parse` and carries them on `Call.extensions`.
A list is comma-separated; several header fields are joined with commas (RFC 9110 5.3).
Whitespace around an item is allowed (HTTP list syntax); an empty item, whitespace or a
control character inside an item, or the same URI twice is -32602 naming `A2A-Extensions`.

Check: a message call (SendMessage, SendStreamingMessage) that does not ask for every
extension the agent marks `required: true` is -32008 ExtensionSupportRequired before the
agent sees it (4.6.3: the agent MUST return an error). URIs the agent does not declare are
ignored (4.6.3: SHOULD ignore and proceed), and only declared ones reach the agent in
`RunRequest.requested_extensions`.

Out: the agent lists the extensions it activated on its turn's first event; the binding
answers with them in the `A2A-Extensions` response header (`Call.activated`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format

from gateway.core import errors, request_errors
from generated import task_service_pb2 as pb

HEADER = "A2A-Extensions"
METADATA = "a2a-extensions"  # the same service parameter as gRPC metadata (lower-case key)
MAX_URI = 2048


def parse(values: Iterable[str]) -> tuple[str, ...]:
    """The URIs of every `A2A-Extensions` field value, in order; -32602 naming the header for
    a malformed list (see the module docstring). No field at all is the empty tuple."""
    fields = list(values)
    if not fields:
        return ()
    seen: list[str] = []
    for item in ",".join(fields).split(","):
        uri = item.strip(" \t")
        if not uri:
            raise request_errors.invalid_params(
                [(HEADER, "empty item in the comma-separated list")]
            )
        if len(uri) > MAX_URI:
            raise request_errors.invalid_params(
                [(HEADER, f"a URI longer than {MAX_URI} characters")]
            )
        if any(c.isspace() or ord(c) < 0x21 or ord(c) == 0x7F for c in uri):
            raise request_errors.invalid_params([(HEADER, f"{uri[:80]!r} contains whitespace")])
        if uri in seen:
            raise request_errors.invalid_params([(HEADER, f"{uri[:80]!r} is listed twice")])
        seen.append(uri)
    return tuple(seen)


def from_metadata(metadata: Iterable[tuple[str, str | bytes]]) -> tuple[str, ...]:
    """`parse` for gRPC invocation metadata: every `a2a-extensions` entry, in order."""
    return parse(
        value.decode("latin-1") if isinstance(value, bytes) else value
        for key, value in metadata
        if key.lower() == METADATA
    )


def header_value(uris: Iterable[str]) -> str:
    """The `A2A-Extensions` response header for `uris`."""
    return ",".join(uris)


def declared(description: pb.AgentDescription) -> list[dict[str, Any]]:
    """The agent's extensions as Agent Card AgentExtension objects (empty fields omitted)."""
    out: list[dict[str, Any]] = []
    for extension in description.extensions:
        entry: dict[str, Any] = {"uri": extension.uri}
        if extension.description:
            entry["description"] = extension.description
        entry["required"] = extension.required
        if extension.HasField("params"):
            entry["params"] = json_format.MessageToDict(extension.params)
        out.append(entry)
    return out


def requested(description: pb.AgentDescription, asked: tuple[str, ...]) -> tuple[str, ...]:
    """What goes to the agent: the asked-for URIs it declares, in the caller's order, after
    -32008 for a required extension not asked for."""
    uris = [extension.uri for extension in description.extensions]
    for extension in description.extensions:
        if extension.required and extension.uri not in asked:
            raise errors.extension_support_required(extension.uri)
    return tuple(uri for uri in asked if uri in uris)
