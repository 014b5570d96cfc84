"""Validation of A2A v1.0 JSON-RPC params (pydantic v2), with errors that name the field.

Unknown fields are ignored. Types are strict: "5" is not a number. Every failure becomes
one -32602 error listing each offending field as `message.parts[0].text`.

Nesting: a params document may nest at most MAX_DEPTH objects and arrays (the params object
itself is level 1). `check_depth` enforces it for every method of every binding (the
dispatcher calls it before any method runs): free-form JSON (metadata, data parts) becomes
protobuf `Struct`s toward the agent, and each JSON level costs protobuf up to three levels of
its recursion limit of 100, so deeper documents would fail inside the gRPC call instead of
being refused here. 32 leaves every free-form field (at most 4 levels down) within it.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from gateway.core import request_errors
from gateway.core.task import STATES


class _Params(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=False, extra="ignore", strict=True
    )


class PartIn(_Params):
    text: str | None = None
    raw: str | None = None
    url: str | None = None
    data: Any = None
    metadata: dict[str, Any] | None = None
    filename: str | None = None
    media_type: str | None = None

    @field_validator("raw")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error:
                raise ValueError("must be base64-encoded bytes") from None
        return value

    @model_validator(mode="after")
    def _one_content(self) -> PartIn:
        present = [
            name
            for name in ("text", "raw", "url", "data")
            if name in self.model_fields_set and getattr(self, name) is not None
        ]
        if len(present) != 1:
            raise ValueError("exactly one of text, raw, url, data must be set")
        return self


class MessageIn(_Params):
    message_id: str = Field(min_length=1)
    context_id: str | None = None
    task_id: str | None = None
    role: Literal["ROLE_USER"]
    parts: list[PartIn] = Field(min_length=1)
    metadata: dict[str, Any] | None = None
    extensions: list[str] | None = None
    reference_task_ids: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class SendConfigurationIn(_Params):
    accepted_output_modes: list[str] | None = None
    history_length: int | None = Field(default=None, ge=0)
    return_immediately: bool = False
    task_push_notification_config: dict[str, Any] | None = None


class SendMessageParams(_Params):
    message: MessageIn
    configuration: SendConfigurationIn | None = None
    metadata: dict[str, Any] | None = None
    tenant: str | None = None


class GetTaskParams(_Params):
    id: str = Field(min_length=1)
    history_length: int | None = Field(default=None, ge=0)
    tenant: str | None = None


class TaskIdParams(_Params):
    id: str = Field(min_length=1)
    metadata: dict[str, Any] | None = None
    tenant: str | None = None


class ListTasksParams(_Params):
    context_id: str | None = None
    status: Literal[STATES] | None = None  # type: ignore[valid-type]
    page_size: int = Field(default=50, ge=1, le=100)
    page_token: str | None = None
    history_length: int | None = Field(default=None, ge=0)
    status_timestamp_after: str | None = None
    include_artifacts: bool = False
    tenant: str | None = None

    @field_validator("status_timestamp_after")
    @classmethod
    def _iso8601(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("must be an ISO 8601 timestamp") from None
        return value

    def updated_after(self) -> float | None:
        if self.status_timestamp_after is None:
            return None
        moment = datetime.fromisoformat(self.status_timestamp_after.replace("Z", "+00:00"))
        return moment.timestamp()


P = TypeVar("P", bound=_Params)

MAX_DEPTH = 32


def _key(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:40] + "..."


def check_depth(params: dict[str, Any], limit: int = MAX_DEPTH) -> None:
    """-32602 naming the first field nested deeper than `limit` objects and arrays.

    Iterative, and it stops at the first violation: its cost is bounded by the document's
    size whatever its depth."""
    stack: list[tuple[Any, int, str]] = [(params, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            items: Any = ((f"{path}.{_key(k)}" if path else _key(k), v) for k, v in value.items())
        elif isinstance(value, list):
            items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
        else:
            continue
        if depth > limit:
            raise request_errors.invalid_params(
                [(path or "params", f"nests deeper than {limit} levels of objects and arrays")]
            )
        stack.extend((child, depth + 1, child_path) for child_path, child in items)


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
        elif item.startswith(("function-after", "function-before")) or item in (
            "literal",
            "tagged-union",
        ):
            continue
        else:
            path += f".{item}" if path else item
    return path or "params"


def _describe(error: Any) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def parse(model: type[P], params: Any, *, prefix: str = "") -> P:
    """Validate params into `model`, or raise -32602 naming every offending field (under
    `prefix`, for params nested in another request's)."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        violations = [(_prefixed(prefix, _path(e["loc"])), _describe(e)) for e in exc.errors()]
        raise request_errors.invalid_params(violations) from None


def _prefixed(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return prefix if path == "params" else f"{prefix}.{path}"


Params = _Params  # the base of every params model (strict, camelCase, unknown fields ignored)
