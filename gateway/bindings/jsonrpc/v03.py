"""A2A v0.3 on top of the v1.0 semantics: params in, results and stream events out.

Nothing here runs a task: each v0.3 method is a route onto a v1.0 method (see versions.py);
this module only reshapes JSON.

In: v0.3 `MessageSendParams` become v1.0 `SendMessageRequest` params. Parts carry a `kind`
(`text`, `file`, `data`); file parts are `{kind: "file", file: {bytes | uri, mimeType,
name}}`; roles are `user` / `agent`; `configuration.blocking` (default true, as the v0.3 SDKs
do) becomes `returnImmediately = not blocking`. A wrong `kind` or role is -32602 naming the
field, and so is a part without `kind` (the v0.3 schema requires it); other problems are
left to the v1.0 validation, whose field names are the same.

Out: every object gets its `kind` discriminator (`task`, `message`, `status-update`,
`artifact-update`, parts `text` / `file` / `data`), states are lower-case kebab
(`input-required`), status updates carry `final` (true on a terminal or interrupted state:
the stream of this interaction ends there). Deliberate divergences, since v0.3 cannot say
these: a v1.0 data part whose value is not an object is sent as `{"value": <data>}`, and the
`mediaType` / `filename` of text and data parts are dropped.

Stream events are translated through `Event.encoded("0.3", stream_event)`: once per event,
however many v0.3 subscribers there are.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from gateway.bindings.jsonrpc.versions import V0_3, Route
from gateway.core import errors, request_errors
from gateway.core.task import FINAL

Json = dict[str, Any]

_MESSAGE_FIELDS = ("messageId", "contextId", "taskId", "metadata", "extensions", "referenceTaskIds")


def _bad(path: str, text: str) -> errors.A2AError:
    return request_errors.invalid_params([(path, text)])


def _kind(value: Json, expected: tuple[str, ...], path: str) -> str | None:
    kind = value.get("kind")
    if kind is None:
        return None
    if kind not in expected:
        choices = " or ".join(f'"{k}"' for k in expected)
        raise _bad(f"{path}.kind", f"must be {choices}, not {kind!r}")
    return str(kind)


# --- in ------------------------------------------------------------------------------------


def _is_base64(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error:
        return False
    return True


def part_in(part: Any, path: str) -> Any:
    if not isinstance(part, dict):
        return part  # the v1.0 validation names it
    kind = _kind(part, ("text", "file", "data"), path)
    if kind is None:  # the v0.3 schema requires the discriminator on every part
        raise _bad(f"{path}.kind", 'is required: "text", "file" or "data"')
    out: Json = {}
    if kind == "text":
        out["text"] = part.get("text")
    elif kind == "data":
        out["data"] = part.get("data")
    elif kind == "file":
        file = part.get("file")
        if not isinstance(file, dict):
            raise _bad(f"{path}.file", "must be an object with bytes or uri")
        if ("bytes" in file) == ("uri" in file):
            raise _bad(f"{path}.file", "exactly one of bytes, uri must be set")
        if "bytes" in file:
            if not _is_base64(file["bytes"]):  # named here: v1.0 would say `raw`
                raise _bad(f"{path}.file.bytes", "must be base64-encoded bytes")
            out["raw"] = file["bytes"]
        else:
            out["url"] = file["uri"]
        if file.get("mimeType") is not None:
            out["mediaType"] = file["mimeType"]
        if file.get("name") is not None:
            out["filename"] = file["name"]
    if "metadata" in part:
        out["metadata"] = part["metadata"]
    return out


def message_in(message: Any, path: str = "message") -> Any:
    if not isinstance(message, dict):
        return message
    _kind(message, ("message",), path)
    if message.get("role") != "user":
        raise _bad(f"{path}.role", f'must be "user", not {message.get("role")!r}')
    out: Json = {k: message[k] for k in _MESSAGE_FIELDS if k in message}
    out["role"] = "ROLE_USER"
    parts = message.get("parts")
    if isinstance(parts, list):
        out["parts"] = [part_in(p, f"{path}.parts[{i}]") for i, p in enumerate(parts)]
    elif "parts" in message:
        out["parts"] = parts
    return out


def configuration_in(config: Any) -> Any:
    if not isinstance(config, dict):
        return config
    blocking = config.get("blocking", True)
    if blocking is None:
        blocking = True
    if not isinstance(blocking, bool):
        raise _bad("configuration.blocking", "must be a boolean")
    out: Json = {"returnImmediately": not blocking}
    for name in ("acceptedOutputModes", "historyLength"):
        if name in config:
            out[name] = config[name]
    if config.get("pushNotificationConfig") is not None:
        out["taskPushNotificationConfig"] = push_config_in(config["pushNotificationConfig"])
    return out


def push_config_in(config: Any) -> Any:
    """A v0.3 PushNotificationConfig -> the v1.0 fields (`authentication.schemes[0]` is the
    scheme; v1.0 has one)."""
    if not isinstance(config, dict):
        return config
    out: Json = {k: config[k] for k in ("id", "url", "token") if k in config}
    auth = config.get("authentication")
    if isinstance(auth, dict):
        schemes = auth.get("schemes")
        if not isinstance(schemes, list) or not schemes:
            raise _bad("pushNotificationConfig.authentication.schemes", "must name a scheme")
        out["authentication"] = {"scheme": schemes[0]}
        if "credentials" in auth:
            out["authentication"]["credentials"] = auth["credentials"]
    elif auth is not None:
        out["authentication"] = auth
    return out


def set_push_params(params: Json) -> Json:
    """`tasks/pushNotificationConfig/set`: {taskId, pushNotificationConfig} -> v1.0. Without
    an id the config's id is the task's (as the v0.3 SDKs do, so `get` finds it by task id)."""
    inner = params.get("pushNotificationConfig")
    if not isinstance(inner, dict):
        raise _bad("pushNotificationConfig", "must be an object with url")
    out: Json = {"taskId": params.get("taskId"), **push_config_in(inner)}
    if out.get("id") is None and isinstance(out["taskId"], str):
        out["id"] = out["taskId"]
    return out


def push_ref_params(params: Json) -> Json:
    """`get` / `delete` params {id, pushNotificationConfigId} -> v1.0 {taskId, id}."""
    task_id = params.get("id")
    return {"taskId": task_id, "id": params.get("pushNotificationConfigId", task_id)}


def list_push_params(params: Json) -> Json:
    return {"taskId": params.get("id")}


def send_params(params: Json) -> Json:
    out: Json = {k: v for k, v in params.items() if k not in ("message", "configuration")}
    if "message" in params:
        out["message"] = message_in(params["message"])
    out["configuration"] = configuration_in(params.get("configuration") or {})
    return out


# --- out -----------------------------------------------------------------------------------


def state(value: str) -> str:
    """`TASK_STATE_INPUT_REQUIRED` -> `input-required`."""
    return value.removeprefix("TASK_STATE_").lower().replace("_", "-")


def role(value: str) -> str:
    return "user" if value == "ROLE_USER" else "agent"


def part(value: Json) -> Json:
    out: Json
    if "text" in value:
        out = {"kind": "text", "text": value["text"]}
    elif "data" in value:
        data = value["data"]
        out = {"kind": "data", "data": data if isinstance(data, dict) else {"value": data}}
    else:
        file: Json = {"bytes": value["raw"]} if "raw" in value else {"uri": value.get("url")}
        if "mediaType" in value:
            file["mimeType"] = value["mediaType"]
        if "filename" in value:
            file["name"] = value["filename"]
        out = {"kind": "file", "file": file}
    if "metadata" in value:
        out["metadata"] = value["metadata"]
    return out


def message(value: Json) -> Json:
    out: Json = {"kind": "message", "messageId": value["messageId"], "role": role(value["role"])}
    for name in _MESSAGE_FIELDS[1:]:
        if value.get(name):
            out[name] = value[name]
    out["parts"] = [part(p) for p in value["parts"]]
    return out


def status(value: Json) -> Json:
    out: Json = {"state": state(value["state"])}
    if "message" in value:
        out["message"] = message(value["message"])
    if "timestamp" in value:
        out["timestamp"] = value["timestamp"]
    return out


def artifact(value: Json) -> Json:
    return {**value, "parts": [part(p) for p in value["parts"]]}


def task(value: Json) -> Json:
    out: Json = {
        "kind": "task",
        "id": value["id"],
        "contextId": value["contextId"],
        "status": status(value["status"]),
    }
    if "artifacts" in value:
        out["artifacts"] = [artifact(a) for a in value["artifacts"]]
    if "history" in value:
        out["history"] = [message(m) for m in value["history"]]
    if "metadata" in value:
        out["metadata"] = value["metadata"]
    return out


def stream_event(body: Json) -> Json:
    """A v1.0 `StreamResponse` (or SendMessage result) -> the v0.3 result object."""
    if "task" in body:
        return task(body["task"])
    if "message" in body:
        return message(body["message"])
    if "statusUpdate" in body:
        update = body["statusUpdate"]
        out: Json = {
            "kind": "status-update",
            "taskId": update["taskId"],
            "contextId": update["contextId"],
            "status": status(update["status"]),
            "final": update["status"]["state"] in FINAL,
        }
    else:
        update = body["artifactUpdate"]
        out = {
            "kind": "artifact-update",
            "taskId": update["taskId"],
            "contextId": update["contextId"],
            "artifact": artifact(update["artifact"]),
            "append": update.get("append", False),
            "lastChunk": update.get("lastChunk", False),
        }
    if "metadata" in update:
        out["metadata"] = update["metadata"]
    return out


def _extended_refusal(error: errors.A2AError) -> errors.A2AError:
    if error.code == errors.UNSUPPORTED_OPERATION:
        return errors.extended_card_not_configured()
    return error


def push_config(value: Json) -> Json:
    """A v1.0 TaskPushNotificationConfig -> v0.3 {taskId, pushNotificationConfig}."""
    inner: Json = {k: value[k] for k in ("id", "url", "token", "deliveryStatus") if k in value}
    auth = value.get("authentication")
    if auth is not None:
        inner["authentication"] = {"schemes": [auth["scheme"]]}
        if "credentials" in auth:
            inner["authentication"]["credentials"] = auth["credentials"]
    return {"taskId": value["taskId"], "pushNotificationConfig": inner}


def push_configs(value: Json) -> list[Json]:
    return [push_config(c) for c in value["configs"]]


def _null(value: Json) -> None:
    return None


def _send(target: str) -> Route:
    streaming = target == "SendStreamingMessage"
    return Route(target, send_params, stream_event, V0_3, stream_event, streaming=streaming)


ROUTES: dict[str, Route] = {
    "message/send": _send("SendMessage"),
    "message/stream": _send("SendStreamingMessage"),
    "tasks/get": Route("GetTask", result=task),
    "tasks/cancel": Route("CancelTask", result=task),
    # The same subscribe code as SubscribeToTask (snapshot first, replay, terminal task errors),
    # but it resumes a turn's stream (v0.3 7.9: "reconnect to an SSE stream ... from
    # message/stream"), so it ends where that stream ends: at `final: true` (docs/spec.md).
    "tasks/resubscribe": Route(
        "SubscribeToTask", wire=V0_3, adapt=stream_event, streaming=True, turn_stream=True
    ),
    "tasks/pushNotificationConfig/set": Route(
        "CreateTaskPushNotificationConfig", set_push_params, push_config
    ),
    "tasks/pushNotificationConfig/get": Route(
        "GetTaskPushNotificationConfig", push_ref_params, push_config
    ),
    "tasks/pushNotificationConfig/list": Route(
        "ListTaskPushNotificationConfigs", list_push_params, push_configs
    ),
    "tasks/pushNotificationConfig/delete": Route(
        "DeleteTaskPushNotificationConfig", push_ref_params, _null
    ),
    # v0.3 has no capability error for it (section 7.10): -32007 is its only refusal.
    "agent/getAuthenticatedExtendedCard": Route("GetExtendedAgentCard", refine=_extended_refusal),
}
