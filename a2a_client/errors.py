"""What the client raises. Every exception is an `A2AClientError`:

    A2AClientError
    ├── A2AError               the endpoint answered with a JSON-RPC error: `code`, `message`,
    │                          `data` exactly as sent (`reason` reads google.rpc.ErrorInfo)
    ├── NotAnA2AEndpoint       the URL answers, but not as an A2A JSON-RPC endpoint (an HTML
    │                          page, a 404, a body that is not JSON-RPC, a card that is not one)
    ├── StreamingNotSupported  the Agent Card says `capabilities.streaming: false`
    └── ConnectionLost         the connection failed, or a stream dropped and could not be
                               resumed within the retries; `task_id` and `last_event_id` say
                               where to resume from by hand

Foreign exceptions (httpx's) are translated in one place, `client.py`'s `_http_errors`.
"""

from __future__ import annotations

from typing import Any


class A2AClientError(Exception):
    """Base class of everything the client raises."""


class A2AError(A2AClientError):
    """A JSON-RPC error from the endpoint."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (JSON-RPC error {code})")
        self.code = code
        self.message = message
        self.data = data

    @classmethod
    def from_json(cls, error: Any) -> A2AError:
        if not isinstance(error, dict):
            return cls(-32603, f"malformed error object: {error!r}")
        return cls(int(error.get("code", -32603)), str(error.get("message", "")), error.get("data"))

    @property
    def reason(self) -> str | None:
        """The `reason` of a google.rpc.ErrorInfo in `data`, if there is one."""
        if isinstance(self.data, list):
            for detail in self.data:
                if isinstance(detail, dict) and "reason" in detail:
                    return str(detail["reason"])
        return None


class NotAnA2AEndpoint(A2AClientError):
    """The URL does not serve A2A."""


class StreamingNotSupported(A2AClientError):
    """The agent does not stream (its card says `capabilities.streaming: false`)."""


class ConnectionLost(A2AClientError):
    """No connection, or a stream that could not be resumed within the retries."""

    def __init__(
        self, message: str, *, task_id: str | None = None, last_event_id: int | None = None
    ) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.last_event_id = last_event_id
