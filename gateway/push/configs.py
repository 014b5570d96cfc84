"""A push notification config as stored, as the wire shows it, and its params.

A config belongs to one task (and so to the task's owner: methods.py checks the task first).
Its `id` is the client's, or a new UUID. The wire shape is A2A v1.0's
`TaskPushNotificationConfig` (`id`, `taskId`, `url`, `token`, `authentication`), plus one
field of ours, `deliveryStatus`, that clients which do not know it ignore (the official SDKs
parse leniently)::

    "deliveryStatus": {"state": "active" | "failing" | "done", "lastEventId": 12,
                       "failure": {"reason": "HTTP_STATUS", "message": "...",
                                   "eventId": 13, "httpStatus": 404, "at": "2026-..."}}

`failing` means delivery stopped for good (a permanent refusal, or the retries ran out); `done`
that the task's terminal event was acknowledged. Create with the same id again replaces the
config and, when it was failing, resumes delivery from the event that failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import Field

from gateway.core.params import Params

ACTIVE = "active"
FAILING = "failing"
DONE = "done"


class AuthenticationIn(Params):
    scheme: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    credentials: str | None = Field(default=None, max_length=4096)


class ConfigIn(Params):
    """The config of an inline `configuration.taskPushNotificationConfig` (no task yet)."""

    id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[\w.:@-]+$")
    url: str = Field(min_length=1, max_length=2048)
    token: str | None = Field(default=None, max_length=4096)
    authentication: AuthenticationIn | None = None
    tenant: str | None = None


class CreateParams(ConfigIn):
    task_id: str = Field(min_length=1)


class ConfigRef(Params):
    task_id: str = Field(min_length=1)
    id: str = Field(min_length=1)
    tenant: str | None = None


class ListParams(Params):
    task_id: str = Field(min_length=1)
    page_size: int | None = Field(default=None, ge=0, le=100)
    page_token: str | None = None
    tenant: str | None = None


@dataclass(slots=True)
class Failure:
    reason: str
    message: str
    event_id: int
    at: str
    http_status: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reason": self.reason,
            "message": self.message,
            "eventId": self.event_id,
            "at": self.at,
        }
        if self.http_status is not None:
            out["httpStatus"] = self.http_status
        return out


@dataclass(slots=True)
class Cursor:
    """Where delivery of one config stands: events up to `acked` are acknowledged.

    `snapshot`: the next delivery is the current Task (a config created on a running task
    starts there, as a subscription does), then the events after it.
    """

    acked: int = 0
    snapshot: bool = False
    state: str = ACTIVE
    failure: Failure | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "lastEventId": self.acked}
        if self.failure is not None:
            out["failure"] = self.failure.to_json()
        return out

    def dump(self) -> bytes:
        failure = None
        if self.failure is not None:
            failure = {
                "reason": self.failure.reason,
                "message": self.failure.message,
                "eventId": self.failure.event_id,
                "at": self.failure.at,
                "httpStatus": self.failure.http_status,
            }
        return orjson.dumps(
            {
                "acked": self.acked,
                "snapshot": self.snapshot,
                "state": self.state,
                "failure": failure,
            }
        )

    @staticmethod
    def restore(data: bytes | str) -> Cursor:
        fields = orjson.loads(data)
        raw = fields.get("failure")
        failure = None
        if raw:
            failure = Failure(
                raw["reason"], raw["message"], raw["eventId"], raw["at"], raw.get("httpStatus")
            )
        return Cursor(fields["acked"], fields["snapshot"], fields["state"], failure)


@dataclass(slots=True)
class PushConfig:
    task_id: str
    id: str
    url: str
    token: str | None = None
    scheme: str | None = None
    credentials: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # tenant

    def __repr__(self) -> str:  # never the token or credentials
        return f"<PushConfig task={self.task_id} id={self.id} scheme={self.scheme}>"

    @staticmethod
    def of(task_id: str, config_id: str, given: ConfigIn) -> PushConfig:
        auth = given.authentication
        return PushConfig(
            task_id=task_id,
            id=config_id,
            url=given.url,
            token=given.token,
            scheme=auth.scheme if auth else None,
            credentials=auth.credentials if auth else None,
            extra={"tenant": given.tenant} if given.tenant else {},
        )

    def to_json(self, cursor: Cursor | None = None) -> dict[str, Any]:
        """The v1.0 TaskPushNotificationConfig (credentials included: the owner set them)."""
        out: dict[str, Any] = {"id": self.id, "taskId": self.task_id, "url": self.url}
        if self.token is not None:
            out["token"] = self.token
        if self.scheme is not None:
            auth: dict[str, Any] = {"scheme": self.scheme}
            if self.credentials is not None:
                auth["credentials"] = self.credentials
            out["authentication"] = auth
        out.update(self.extra)
        if cursor is not None:
            out["deliveryStatus"] = cursor.to_json()
        return out

    def headers(self) -> dict[str, str]:
        """The headers the config asks for (spec 4.3.3): Authorization, the token."""
        out: dict[str, str] = {}
        if self.scheme and self.credentials:
            out["Authorization"] = f"{self.scheme} {self.credentials}"
        if self.token:
            out["X-A2A-Notification-Token"] = self.token
        return out

    def dump(self) -> bytes:
        return orjson.dumps(
            {
                "taskId": self.task_id,
                "id": self.id,
                "url": self.url,
                "token": self.token,
                "scheme": self.scheme,
                "credentials": self.credentials,
                "extra": self.extra,
            }
        )

    @staticmethod
    def restore(data: bytes | str) -> PushConfig:
        f = orjson.loads(data)
        return PushConfig(
            f["taskId"], f["id"], f["url"], f["token"], f["scheme"], f["credentials"], f["extra"]
        )
