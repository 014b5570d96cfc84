"""Early-A2A aliases: `tasks/send` and `tasks/sendSubscribe`, on the v0.3 surface.

Early A2A (before v0.2) sent `{id, sessionId, message, historyLength, acceptedOutputModes,
pushNotification, metadata}`; its messages had no `messageId` and its parts were tagged
`type` instead of `kind`. Both methods map onto SendMessage / SendStreamingMessage through
the v0.3 translation, and answer in v0.3 shapes with a few early fields added, so the
original clients parse them: `type` beside `kind` on every part, `id` (the task id) on
status and artifact updates, `sessionId` on tasks, and, on status updates, `progress` (when
the agent reported one) and `message` (the status message's text), the fields the original
design note's client prints.

The client-chosen `id`: A2A lets only the server name new tasks (v1.0 section 3.4.2), so
`id` is a hint. When it names a task the caller can see, the message continues that task
(as early multi-turn clients did); otherwise a new task starts under a gateway id, which
every answer carries (`id` on the Task and on each event).

`sessionId` becomes the `contextId` of a new task.

Early A2A's `tasks/get`, `tasks/cancel` and `tasks/resubscribe` have the same names as v0.3's,
and nothing in such a request tells an early client from a v0.3 one, so they answer in v0.3
shapes (which have `final`, `kind` and `taskId`, but neither `type` on parts nor `id` on events).
"""

from __future__ import annotations

import uuid
from typing import Any

from gateway.bindings.jsonrpc import v03
from gateway.bindings.jsonrpc.versions import Route

Json = dict[str, Any]
WIRE = "early"


def _part_in(part: Any) -> Any:
    if isinstance(part, dict) and "kind" not in part and "type" in part:
        return {**part, "kind": part["type"]}
    return part


def send_params(params: Json) -> Json:
    """Early TaskSendParams -> v0.3 MessageSendParams -> v1.0 SendMessage params."""
    out: Json = {}
    message = params.get("message")
    if isinstance(message, dict):
        message = {**message}
        message.setdefault("messageId", str(uuid.uuid4()))
        if isinstance(message.get("parts"), list):
            message["parts"] = [_part_in(p) for p in message["parts"]]
        if params.get("sessionId") is not None:
            message.setdefault("contextId", params["sessionId"])
    if message is not None:
        out["message"] = message
    configuration: Json = {}
    for name in ("historyLength", "acceptedOutputModes"):
        if name in params:
            configuration[name] = params[name]
    if params.get("pushNotification") is not None:
        configuration["pushNotificationConfig"] = params["pushNotification"]
    out["configuration"] = configuration
    if "metadata" in params:
        out["metadata"] = params["metadata"]
    return v03.send_params(out)


def task_hint(params: Json) -> str | None:
    value = params.get("id")
    return value if isinstance(value, str) and value else None


def _typed(parts: list[Json]) -> list[Json]:
    return [{**p, "type": p["kind"]} for p in parts]


def _message(message: Json) -> Json:
    return {**message, "parts": _typed(message["parts"])}


def _status(status: Json) -> Json:
    if "message" in status:
        return {**status, "message": _message(status["message"])}
    return status


def stream_event(body: Json) -> Json:
    """A v1.0 StreamResponse -> its v0.3 shape plus the early fields."""
    out = v03.stream_event(body)
    kind = out["kind"]
    if kind == "message":
        return _message(out)
    if kind == "task":
        out["sessionId"] = out["contextId"]
        out["status"] = _status(out["status"])
        if "history" in out:
            out["history"] = [_message(m) for m in out["history"]]
        if "artifacts" in out:
            out["artifacts"] = [{**a, "parts": _typed(a["parts"])} for a in out["artifacts"]]
        return out
    out["id"] = out["taskId"]
    if kind == "artifact-update":
        out["artifact"] = {**out["artifact"], "parts": _typed(out["artifact"]["parts"])}
        return out
    status = out["status"] = _status(out["status"])
    progress = out.get("metadata", {}).get("progress")
    if progress is not None:
        out["progress"] = progress
    if "message" in status:
        out["message"] = "".join(p.get("text", "") for p in status["message"]["parts"])
    return out


def _send(target: str) -> Route:
    return Route(
        target,
        send_params,
        stream_event,
        WIRE,
        stream_event,
        task_hint=task_hint,
        streaming=target == "SendStreamingMessage",
    )


ROUTES: dict[str, Route] = {
    "tasks/send": _send("SendMessage"),
    "tasks/sendSubscribe": _send("SendStreamingMessage"),
}
