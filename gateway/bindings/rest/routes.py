"""The REST URL table: A2A v1.0 section 11.3, with the `google.api.http` bindings of
a2a.proto (its optional `/{tenant}` form, and GET beside POST for `:subscribe`).

Every path is served under each agent's prefix `/agents/{name}` and, for the default agent,
at the root; each also with one leading `/{tenant}` segment. The gateway has one tenant per
agent prefix, so its cards declare none and the segment is accepted and passed on as the
request's `tenant` field, which no method reads. A tenant is never `agents`, `ui` or
`.well-known`: at the root those segments belong to the app's own paths.

One Starlette route per path, whatever its verbs, so a known path with another verb is 405
with an `Allow` header naming them all, and an unknown path is 404 (see http/fallback.py).
Ids in paths are single segments without `:` (the `segment` convertor), so
`GET /tasks/{id}:cancel` is a 405 rather than GetTask of a task named `{id}:cancel`. The
gateway's task ids never hold a `:`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response


class SegmentConvertor(Convertor[str]):
    regex = "[^/:]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class TenantConvertor(SegmentConvertor):
    """A segment, but none of the names the app serves at the root (`/agents/...`, the page
    at `/ui/...`, which is public: `/ui/extendedAgentCard` must never reach a method)."""

    regex = r"(?!(?:agents|ui|\.well-known)/)[^/:]+"


register_url_convertor("segment", SegmentConvertor())
register_url_convertor("tenant", TenantConvertor())


@dataclass(frozen=True, slots=True)
class Operation:
    """One REST operation: `verb path` runs v1.0 `method`. `path_fields` names the params
    field each path parameter fills; `body` says whether params come from a JSON body."""

    verb: str
    path: str
    method: str
    path_fields: dict[str, str] = field(default_factory=dict)
    body: bool = False


TASK = "/tasks/{task:segment}"
CONFIGS = TASK + "/pushNotificationConfigs"
CONFIG = CONFIGS + "/{config:segment}"

OPERATIONS = (
    Operation("POST", "/message:send", "SendMessage", body=True),
    Operation("POST", "/message:stream", "SendStreamingMessage", body=True),
    Operation("GET", "/tasks", "ListTasks"),
    Operation("GET", TASK, "GetTask", {"task": "id"}),
    Operation("POST", TASK + ":cancel", "CancelTask", {"task": "id"}, body=True),
    Operation("POST", TASK + ":subscribe", "SubscribeToTask", {"task": "id"}, body=True),
    Operation("GET", TASK + ":subscribe", "SubscribeToTask", {"task": "id"}),
    Operation("POST", CONFIGS, "CreateTaskPushNotificationConfig", {"task": "taskId"}, body=True),
    Operation("GET", CONFIGS, "ListTaskPushNotificationConfigs", {"task": "taskId"}),
    Operation("GET", CONFIG, "GetTaskPushNotificationConfig", {"task": "taskId", "config": "id"}),
    Operation(
        "DELETE", CONFIG, "DeleteTaskPushNotificationConfig", {"task": "taskId", "config": "id"}
    ),
    Operation("GET", "/extendedAgentCard", "GetExtendedAgentCard"),
)

PREFIXES = ("/agents/{agent}", "")  # agents first: a root tenant never shadows an agent path
TENANT = "/{tenant:tenant}"

Handle = Callable[[Operation, Request], Awaitable[Response]]


def by_path() -> dict[str, dict[str, Operation]]:
    """The operations of each path, by verb (in table order)."""
    paths: dict[str, dict[str, Operation]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.verb] = operation
    return paths


def register(app: Starlette, handle: Handle) -> None:
    """Add every REST route to `app`: `handle(operation, request)` answers each."""
    for prefix in PREFIXES:
        for tenant in ("", TENANT):
            for path, verbs in by_path().items():
                app.add_route(prefix + tenant + path, _endpoint(verbs, handle), list(verbs))


STREAMING = frozenset({"SendStreamingMessage", "SubscribeToTask"})


def streaming(handle: Handle) -> list[tuple[str, str, Callable[[Request], Awaitable[Response]]]]:
    """`(verb, path, endpoint)` of each operation that holds a stream open, for every prefix
    and tenant form, in the router's order: for http/direct.py, which serves them past the
    framework's routing chain (the same paths stay registered on the router)."""
    return [
        (
            operation.verb,
            prefix + tenant + operation.path,
            _endpoint({operation.verb: operation}, handle),
        )
        for prefix in PREFIXES
        for tenant in ("", TENANT)
        for operation in OPERATIONS
        if operation.method in STREAMING
    ]


def _endpoint(
    verbs: dict[str, Operation], handle: Handle
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        verb = "GET" if request.method == "HEAD" else request.method
        return await handle(verbs[verb], request)

    return endpoint
