"""Query parameters of the REST GET and DELETE operations (A2A v1.0 section 11.5).

Names are the camelCase JSON names of the request's fields. Values arrive as strings and are
typed here by the field's proto type, then validated with the v1.0 params like any JSON-RPC
request (core/params.py), so the errors name the same fields:

- numbers are decimal strings (`historyLength=10`); anything else is -32602 naming the field;
- booleans are `true` or `false` (lower case, as the spec writes them);
- strings, enums (`status=TASK_STATE_WORKING`) and timestamps (ISO 8601) pass as they are.

A parameter the operation does not define is ignored, like an unknown JSON field; one given
twice is -32602 (none of these fields is repeated).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import QueryParams

from gateway.core import request_errors

Convert = Callable[[str], Any]


def _int(value: str) -> int:
    text = value.strip()
    if not text.lstrip("-").isdigit() or len(text) > 10:
        raise ValueError(f"{value[:40]!r} is not a decimal integer")
    return int(text)


def _bool(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError(f"{value[:40]!r} is not true or false")
    return value == "true"


def _str(value: str) -> str:
    return value


# field name -> conversion, per v1.0 method that takes its params from the query
FIELDS: dict[str, dict[str, Convert]] = {
    "GetTask": {"historyLength": _int},
    "ListTasks": {
        "contextId": _str,
        "status": _str,
        "pageSize": _int,
        "pageToken": _str,
        "historyLength": _int,
        "statusTimestampAfter": _str,
        "includeArtifacts": _bool,
    },
    "ListTaskPushNotificationConfigs": {"pageSize": _int, "pageToken": _str},
}


def params(method: str, query: QueryParams) -> dict[str, Any]:
    """The typed params of `method` found in `query`; -32602 naming each bad one."""
    fields = FIELDS.get(method, {})
    out: dict[str, Any] = {}
    violations: list[tuple[str, str]] = []
    for name, convert in fields.items():
        values = query.getlist(name)
        if not values:
            continue
        if len(values) > 1:
            violations.append((name, "given more than once"))
            continue
        try:
            out[name] = convert(values[0])
        except ValueError as exc:
            violations.append((name, str(exc)))
    if violations:
        raise request_errors.invalid_params(violations)
    return out
