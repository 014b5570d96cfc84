"""`A2AClient`: an async A2A v1.0 JSON-RPC client for one agent endpoint.

    async with A2AClient("http://127.0.0.1:8000/agents/document-analysis/") as client:
        async for event in client.stream("Analyse this text."):
            ...

Streams (`stream`, `subscribe`) survive dropped connections: when the connection breaks (or
the stream ends before a terminal or interrupted state) the client re-subscribes with
`SubscribeToTask` and the `Last-Event-ID` header of the last event it yielded, up to
`retries` times in a row with exponential backoff (`backoff`, doubling, at most
`max_backoff` seconds; an event received resets the count). The gateway replays every later
event (the resume extension), and the client drops any event whose id it has already passed,
so the caller sees each event exactly once, in order. A stream that cannot be resumed raises
`ConnectionLost`. Events are read with `timeout` seconds at most between two chunks (the
gateway sends a keep-alive every 15 s), so a silent connection counts as dropped.

Inside an OpenTelemetry span, every request carries its trace context (W3C `traceparent`,
`tracestate`, `baggage`), so the gateway's spans of the call join the caller's trace.

The client speaks A2A v1.0 (`A2A-Version: 1.0`) and is not thread-safe; one per task is
fine, and so is one for many concurrent calls in one event loop.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import httpx
from httpx_sse import EventSource
from opentelemetry import propagate

from a2a_client.errors import A2AError, ConnectionLost, NotAnA2AEndpoint, StreamingNotSupported
from a2a_client.model import (
    ArtifactEvent,
    Event,
    Message,
    StatusEvent,
    Task,
    TaskEvent,
    TaskPage,
    event_from_result,
)

VERSION_HEADERS = {"A2A-Version": "1.0"}
CARD_PATH = ".well-known/agent-card.json"
_TRANSIENT_STATUS = frozenset({502, 503, 504})


class _Dropped(Exception):
    """The stream broke in a way a resume may fix (internal)."""


@contextmanager
def _http_errors(url: str) -> Iterator[None]:
    """The one place where httpx's transport errors become ours."""
    try:
        yield
    except httpx.TransportError as exc:
        raise _Dropped(f"{type(exc).__name__} talking to {url}: {exc or 'no detail'}") from exc


def user_message(
    content: str | dict[str, Any],
    *,
    task_id: str | None = None,
    context_id: str | None = None,
    files: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A v1.0 user Message: text becomes one text part (none when empty and there are
    `files`), followed by the `files` parts (`file_part`); a dict is used as the message."""
    if isinstance(content, str):
        parts = [{"text": content}] if content or not files else []
        message: dict[str, Any] = {"role": "ROLE_USER", "parts": [*parts, *files]}
    else:
        message = dict(content)
        message.setdefault("role", "ROLE_USER")
    message.setdefault("messageId", str(uuid.uuid4()))
    if task_id is not None:
        message["taskId"] = task_id
    if context_id is not None:
        message["contextId"] = context_id
    return message


def wire_state(state: str) -> str:
    """`input-required` -> `TASK_STATE_INPUT_REQUIRED` (a wire name passes through)."""
    if state.startswith("TASK_STATE_"):
        return state
    return "TASK_STATE_" + state.upper().replace("-", "_")


async def _propagate(request: httpx.Request) -> None:
    """Send the current trace context on (W3C traceparent, tracestate, baggage), so a call
    made inside a span (an agent's turn) joins its trace; nothing outside one."""
    propagate.inject(request.headers)


class A2AClient:
    """One agent endpoint (its JSON-RPC URL; the card is at `URL/.well-known/...`)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        base = {**VERSION_HEADERS, **(headers or {})}
        if token is not None:
            base["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            headers=base, timeout=timeout, event_hooks={"request": [_propagate]}
        )
        self._card: dict[str, Any] | None = None
        self._ids = 0

    def __repr__(self) -> str:
        return f"<A2AClient url={self.url!r} retries={self.retries}>"

    async def __aenter__(self) -> A2AClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- discovery ----------------------------------------------------------------------

    async def agent_card(self, *, refresh: bool = False) -> dict[str, Any]:
        """The Agent Card (fetched once, then cached). NotAnA2AEndpoint if there is none."""
        if self._card is not None and not refresh:
            return self._card
        url = self.url + CARD_PATH
        try:
            with _http_errors(url):
                response = await self._http.get(url)
        except _Dropped as exc:
            raise ConnectionLost(str(exc)) from exc
        if response.status_code != 200:
            raise NotAnA2AEndpoint(f"no Agent Card at {url} (HTTP {response.status_code})")
        try:
            card = response.json()
        except ValueError:
            raise NotAnA2AEndpoint(f"{url} is not JSON, so not an Agent Card") from None
        if not isinstance(card, dict) or "name" not in card or "capabilities" not in card:
            raise NotAnA2AEndpoint(f"{url} is JSON but not an Agent Card (no name/capabilities)")
        self._card = card
        return card

    # --- unary methods ------------------------------------------------------------------

    async def send(
        self,
        content: str | dict[str, Any],
        *,
        task_id: str | None = None,
        context_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        return_immediately: bool = False,
        history_length: int | None = None,
        files: Sequence[dict[str, Any]] = (),
        push: dict[str, Any] | None = None,
    ) -> Task | Message:
        """SendMessage: the Task once it is terminal or interrupted (at once with
        `return_immediately`), or the agent's direct reply Message. `files` are file parts
        (`file_part`, `file_part_from_path`) sent after the text; `push` registers a webhook
        for the task (a TaskPushNotificationConfig: url, token, authentication)."""
        params = self._send_params(content, task_id, context_id, metadata, files)
        configuration: dict[str, Any] = {"returnImmediately": return_immediately}
        if history_length is not None:
            configuration["historyLength"] = history_length
        if push is not None:
            configuration["taskPushNotificationConfig"] = push
        params["configuration"] = configuration
        result = await self._call("SendMessage", params)
        if "message" in result:
            return Message.from_json(result["message"])
        return Task.from_json(result["task"])

    async def get(self, task_id: str, *, history_length: int | None = None) -> Task:
        params: dict[str, Any] = {"id": task_id}
        if history_length is not None:
            params["historyLength"] = history_length
        return Task.from_json(await self._call("GetTask", params))

    async def list(
        self,
        *,
        context_id: str | None = None,
        state: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        include_artifacts: bool = False,
    ) -> TaskPage:
        """ListTasks: a page of this caller's tasks on this agent, newest first."""
        params: dict[str, Any] = {"includeArtifacts": include_artifacts}
        for key, value in (
            ("contextId", context_id),
            ("status", wire_state(state) if state else None),
            ("pageSize", page_size),
            ("pageToken", page_token),
        ):
            if value is not None:
                params[key] = value
        result = await self._call("ListTasks", params)
        return TaskPage(
            tasks=[Task.from_json(t) for t in result.get("tasks") or []],
            next_page_token=str(result.get("nextPageToken") or ""),
            total_size=int(result.get("totalSize") or 0),
        )

    async def cancel(self, task_id: str) -> Task:
        """CancelTask: the Task, canceled (A2AError -32002 if it had already finished)."""
        return Task.from_json(await self._call("CancelTask", {"id": task_id}))

    # --- streams ------------------------------------------------------------------------

    async def stream(
        self,
        content: str | dict[str, Any],
        *,
        task_id: str | None = None,
        context_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        files: Sequence[dict[str, Any]] = (),
        push: dict[str, Any] | None = None,
    ) -> AsyncIterator[Event]:
        """SendStreamingMessage: the Task, then each event, until a terminal or interrupted
        state (or one MessageEvent for a direct reply). Resumes by itself (module docstring).
        StreamingNotSupported when the card says the agent does not stream. `push` and
        `files` as for
        `send`."""
        card = await self.agent_card()
        if (card.get("capabilities") or {}).get("streaming") is False:
            raise StreamingNotSupported(f"{card.get('name')!r} at {self.url} does not stream")
        params = self._send_params(content, task_id, context_id, metadata, files)
        if push is not None:
            params["configuration"] = {"taskPushNotificationConfig": push}
        async for event in self._follow("SendStreamingMessage", params, None, None):
            yield event

    async def subscribe(
        self, task_id: str, *, last_event_id: int | None = None
    ) -> AsyncIterator[Event]:
        """SubscribeToTask: without `last_event_id`, the current Task then live events;
        with it, every event after that id then live events. Resumes by itself."""
        async for event in self._follow("SubscribeToTask", {"id": task_id}, task_id, last_event_id):
            yield event

    async def _follow(
        self,
        method: str,
        params: dict[str, Any],
        task_id: str | None,
        last_id: int | None,
    ) -> AsyncIterator[Event]:
        failures = 0
        while True:
            try:
                async for event in self._sse(method, params, last_id):
                    failures = 0
                    if event.id is not None and last_id is not None and event.id <= last_id:
                        continue  # already yielded before the connection dropped
                    if isinstance(event, TaskEvent):
                        task_id = event.task.id
                    elif isinstance(event, StatusEvent | ArtifactEvent):
                        task_id = task_id or event.task_id
                    if event.id is not None:
                        last_id = event.id
                    yield event
                    if event.final:
                        return
                reason = "the stream ended before the task reached a final state"
            except _Dropped as exc:
                reason = str(exc)
            except A2AError as exc:
                if task_id is None:
                    raise
                if exc.reason == "NOTHING_TO_REPLAY" and method == "SubscribeToTask":
                    return  # the final event was the last one we yielded
                if exc.reason != "EVENTS_EXPIRED":
                    raise
                # Too far behind (or resuming too late): the current Task is the best we get.
                reason, last_id = "events expired; resubscribing for the current task", None
            if task_id is None:
                raise ConnectionLost(f"the stream broke before naming its task: {reason}")
            failures += 1
            if failures > self.retries:
                raise ConnectionLost(
                    f"could not resume task {task_id} after {self.retries} retries: {reason}",
                    task_id=task_id,
                    last_event_id=last_id,
                )
            await asyncio.sleep(min(self.max_backoff, self.backoff * 2 ** (failures - 1)))
            method, params = "SubscribeToTask", {"id": task_id}

    async def _sse(
        self, method: str, params: dict[str, Any], last_id: int | None
    ) -> AsyncIterator[Event]:
        """One streaming request's events; `_Dropped` when the transport breaks."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        with _http_errors(self.url):
            async with self._http.stream(
                "POST", self.url, json=self._request(method, params), headers=headers
            ) as response:
                media_type = response.headers.get("content-type", "").partition(";")[0]
                if media_type != "text/event-stream":
                    body = await response.aread()
                    raise self._not_a_stream(response, body)
                async for sse in EventSource(response).aiter_sse():
                    if not sse.data:
                        continue  # httpx-sse turns a field-only block into empty data
                    try:
                        data = json.loads(sse.data)
                        result = data.get("result")
                        if "error" in data:
                            raise A2AError.from_json(data["error"])
                        yield event_from_result(result, int(sse.id) if sse.id else None)
                    except (ValueError, TypeError, AttributeError) as exc:
                        raise NotAnA2AEndpoint(
                            f"{self.url} streamed something that is not an A2A event: "
                            f"{sse.data[:200]!r}"
                        ) from exc

    def _not_a_stream(self, response: httpx.Response, body: bytes) -> Exception:
        """The error for an answer that is not an event stream."""
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and "error" in data and "jsonrpc" in data:
            return A2AError.from_json(data["error"])
        status = response.status_code
        if status in _TRANSIENT_STATUS:
            return _Dropped(f"{self.url} answered HTTP {status}")
        media_type = response.headers.get("content-type", "none")
        return NotAnA2AEndpoint(
            f"{self.url} is not an A2A endpoint: HTTP {status}, content type {media_type}"
        )

    # --- plumbing -----------------------------------------------------------------------

    def _send_params(
        self,
        content: str | dict[str, Any],
        task_id: str | None,
        context_id: str | None,
        metadata: dict[str, Any] | None,
        files: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        message = user_message(content, task_id=task_id, context_id=context_id, files=files)
        params: dict[str, Any] = {"message": message}
        if metadata is not None:
            params["metadata"] = metadata
        return params

    def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._ids += 1
        return {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            with _http_errors(self.url):
                response = await self._http.post(self.url, json=self._request(method, params))
        except _Dropped as exc:
            raise ConnectionLost(str(exc)) from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
            media_type = response.headers.get("content-type", "none")
            raise NotAnA2AEndpoint(
                f"{self.url} is not an A2A endpoint: HTTP {response.status_code}, "
                f"content type {media_type}"
            )
        if "error" in data:
            raise A2AError.from_json(data["error"])
        result = data.get("result")
        if not isinstance(result, dict):
            raise NotAnA2AEndpoint(f"{self.url} answered {method} without a result object")
        return result
