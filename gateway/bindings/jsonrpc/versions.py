"""A2A protocol versions: which one a request speaks, and the method names each version serves.

Negotiation (A2A v1.0 section 3.6): the `A2A-Version` header, else the `A2A-Version` query
parameter. `1.0` and `1.0.x` select v1.0 (patch numbers never count); a missing or empty
value, `0.3` or `0.3.x` select v0.3; anything else is -32009 VersionNotSupported, with the
supported versions in the error's `ErrorInfo.metadata.supported`.

Each version has its own method table. Every entry points at the SAME v1.0 semantics
(methods.py) and says how params come in and how results and stream events go out
(`Route`); v1.0 routes translate nothing. The early-A2A aliases (`tasks/send`,
`tasks/sendSubscribe`) are part of the v0.3 surface, since early clients send no header.

A method name that belongs to the other version is -32601 with a message naming the version
it belongs to, never a wrong-shaped success.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core import errors, request_errors
from gateway.core.events import Encoder

V1_0 = "1.0"
V0_3 = "0.3"
SUPPORTED = (V1_0, V0_3)
HEADER = "A2A-Version"

Json = dict[str, Any]


def negotiate(headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    """The version a request speaks (header first, then query parameter)."""
    value = headers.get(HEADER)
    if value is None:
        value = query.get(HEADER)
    value = (value or "").strip()
    if not value:
        return V0_3
    parts = value.split(".")
    major_minor = ".".join(parts[:2])
    if len(parts) in (2, 3) and all(p.isdigit() for p in parts) and major_minor in SUPPORTED:
        return major_minor
    raise request_errors.version_not_supported(value, list(SUPPORTED))


def _same(value: Json) -> Json:
    return value


def _no_hint(value: Json) -> str | None:
    return None


def _same_error(error: errors.A2AError) -> errors.A2AError:
    return error


@dataclass(frozen=True, slots=True)
class Route:
    """One method name of one version, mapped onto a v1.0 method.

    `target` is a v1.0 method name (methods.Methods.table), or None when the version answers
    the method by itself with `error`. `params` translates params in, `result` translates a
    JSON result out, and `wire` + `adapt` encode each stream event (once per event and wire
    format, see events.py). `task_hint` picks a client-proposed task id out of the params
    (early A2A's `id`: see early.py).

    `streaming` marks a v0.3 streaming method: it answers every error, even one refused before
    any event, inside an SSE stream (v0.3 3.3.1 / 7: the response IS a stream of JSON-RPC
    responses); v1.0 keeps plain JSON errors, which its clients read. `turn_stream` makes a
    subscription end at the end of the turn (v0.3 `tasks/resubscribe`), not at a terminal state.
    `refine` turns a v1.0 method's error into the version's own (v0.3's extended card).
    """

    target: str | None
    params: Callable[[Json], Json] = _same
    result: Callable[[Json], Any] = _same
    wire: str = V1_0
    adapt: Encoder | None = None
    error: Callable[[], errors.A2AError] | None = None
    task_hint: Callable[[Json], str | None] = _no_hint
    streaming: bool = False
    turn_stream: bool = False
    refine: Callable[[errors.A2AError], errors.A2AError] = _same_error


V1_METHODS = (
    "SendMessage",
    "SendStreamingMessage",
    "GetTask",
    "ListTasks",
    "CancelTask",
    "SubscribeToTask",
    "CreateTaskPushNotificationConfig",
    "GetTaskPushNotificationConfig",
    "ListTaskPushNotificationConfigs",
    "DeleteTaskPushNotificationConfig",
    "GetExtendedAgentCard",
)


def _null(value: Json) -> None:
    return None


V1_ROUTES: dict[str, Route] = {name: Route(name) for name in V1_METHODS}
# The SDKs' servers answer null; the method table's `{}` is for the bindings that need an object.
V1_ROUTES["DeleteTaskPushNotificationConfig"] = Route(
    "DeleteTaskPushNotificationConfig", result=_null
)


def tables() -> dict[str, dict[str, Route]]:
    """The method table of every version (imported late: v03 and early build on this module)."""
    from gateway.bindings.jsonrpc import early, v03

    return {V1_0: V1_ROUTES, V0_3: {**v03.ROUTES, **early.ROUTES}}


_TABLES: dict[str, dict[str, Route]] = {}


def method_names() -> set[str]:
    """Every method name any version serves (for bounded metric labels)."""
    if not _TABLES:
        _TABLES.update(tables())
    return {name for table in _TABLES.values() for name in table}


def route(version: str, method: str) -> Route:
    """The route of `method` in `version`, or -32601 saying where the method belongs."""
    if not _TABLES:
        _TABLES.update(tables())
    found = _TABLES[version].get(method)
    if found is not None:
        return found
    for other, table in _TABLES.items():
        if other != version and method in table:
            raise request_errors.method_of_other_version(
                method, belongs_to=other, requested=version
            )
    raise request_errors.method_not_found(method)


def streams_errors(method: str) -> bool:
    """True for a v0.3 streaming method name (`message/stream`, `tasks/resubscribe`, early
    `tasks/sendSubscribe`): its errors go inside an SSE stream, whatever `A2A-Version` said,
    since the method name tells which reader the client runs."""
    if not _TABLES:
        _TABLES.update(tables())
    found = _TABLES[V0_3].get(method)
    return found is not None and found.streaming
