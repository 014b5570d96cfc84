"""The resume extension: replay a task's events after a `Last-Event-ID`, then go live.

A2A v1.0 `SubscribeToTask` sends the current Task and then live events, so a client that lost
its connection learns the task's state but not the events it missed. With this extension a
client sends the `Last-Event-ID` header (the `id:` of the last SSE event it processed) and
gets every later event from the task's log, exactly once and in order, then live events; the
stream ends where the original stream would have: after the next terminal or interrupted
status. It works on running tasks and on finished tasks the gateway still retains.

Event ids are per-task sequence numbers, so an id is only meaningful with its task: an id
beyond the task's last event is refused, but an id taken from another task that happens to
be in range cannot be told apart (documented, not detectable without changing the ids).
"""

from __future__ import annotations

from typing import Any

from gateway.core import request_errors

URI = "https://github.com/a2a-grpc-gateway/extensions/resume/v1"
HEADER = "Last-Event-ID"
QUERY = "lastEventId"  # the events endpoint's fallback: EventSource cannot set headers
_MAX_DIGITS = 18


GRPC_METADATA_KEY = HEADER.lower()
GRPC_EVENT_ID_FIELD = 100_000  # see gateway/bindings/grpc/convert.py


def card_entry(*, retained_events: int, finished_ttl: float, grpc: bool = False) -> dict[str, Any]:
    """The AgentExtension advertised in `capabilities.extensions`; with `grpc`, also how it
    works on the gRPC binding (a metadata key, and the field carrying each event's id)."""
    entry: dict[str, Any] = {
        "uri": URI,
        "description": (
            "Resume a stream without loss or duplicates: send SubscribeToTask with a "
            "Last-Event-ID header to replay every event after that SSE id, then follow live. "
            "GET {url}tasks/{id}/events serves the same events to browsers' EventSource."
        ),
        "required": False,
        "params": {
            "header": HEADER,
            "eventsPath": "tasks/{id}/events",
            "retainedEventsPerTask": retained_events,
            "finishedTaskRetentionSeconds": finished_ttl,
        },
    }
    if grpc:
        entry["params"]["grpcMetadataKey"] = GRPC_METADATA_KEY
        entry["params"]["grpcEventIdField"] = GRPC_EVENT_ID_FIELD
    return entry


def parse_event_id(value: str, *, field: str = HEADER) -> int:
    """The seq in a Last-Event-ID value, or -32602 naming `field`."""
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_DIGITS:
        raise request_errors.invalid_params(
            [
                (
                    field,
                    f"{value[:40]!r} is not an event id of this gateway (a sequence number)",
                )
            ]
        )
    return int(text)
