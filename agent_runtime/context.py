"""`TaskContext`: what a handler gets for one task turn (one `TaskService.Run` call).

Reading: the request is exposed as read-only attributes (`task_id`, `context_id`,
`message`, `text`, `files`, `history`, `artifacts`, `metadata`, `caller`).

Emitting: every emitting method is a coroutine that writes exactly one `AgentEvent`
to the gRPC stream and returns once gRPC has accepted it, so a slow consumer slows
the handler down (backpressure) and nothing is queued. Emits are serialised by a
lock, so concurrent emits from several tasks of one handler keep a well-defined order.

Final statuses (`complete`, `fail`, `reject`, `input_required`, `auth_required`,
and `status` with a final state) end the turn: the contract forbids anything after
them, so any later emit raises `RuntimeError` without writing.

Cancellation: when the gateway cancels the call, `cancelled` is set and the
handler's task is cancelled (it sees `asyncio.CancelledError` at its next await).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format

from agent_runtime import tracing
from agent_runtime.artifact_stream import ArtifactStream
from agent_runtime.content import Content, agent_message, new_id, text_of, to_parts
from agent_runtime.files import File, files_of
from generated import task_service_pb2 as pb

if TYPE_CHECKING:
    from opentelemetry.trace import Span

Write = Callable[[pb.AgentEvent], Awaitable[None]]

FINAL_STATES = frozenset(
    {
        pb.TASK_STATE_COMPLETED,
        pb.TASK_STATE_FAILED,
        pb.TASK_STATE_CANCELED,
        pb.TASK_STATE_REJECTED,
        pb.TASK_STATE_INPUT_REQUIRED,
        pb.TASK_STATE_AUTH_REQUIRED,
    }
)


@dataclass(frozen=True, kw_only=True)
class Caller:
    """Who is asking, as established by the gateway."""

    principal: str
    request_id: str
    headers: Mapping[str, str] = field(default_factory=dict)


class TaskContext:
    """One task turn: the request, and the methods that stream the agent's events."""

    def __init__(self, request: pb.RunRequest, write: Write) -> None:
        self._request = request
        self._write = write
        self._lock = asyncio.Lock()
        self._cancelled = asyncio.Event()
        self._metadata: dict[str, Any] = json_format.MessageToDict(request.metadata)
        self._caller = Caller(
            principal=request.caller.principal,
            request_id=request.caller.request_id,
            headers=dict(request.caller.headers),
        )
        self._events = 0
        self._direct_replies = 0
        self._final_state: pb.TaskState.ValueType | None = None
        self._activated: list[str] = []

    def __repr__(self) -> str:
        final = "-" if self._final_state is None else pb.TaskState.Name(self._final_state)
        return f"<TaskContext task_id={self.task_id!r} events={self._events} final={final}>"

    # Reading the request.

    @property
    def task_id(self) -> str:
        return self._request.task_id

    @property
    def context_id(self) -> str:
        return self._request.context_id

    @property
    def message(self) -> pb.Message:
        """The new user message that starts this turn."""
        return self._request.message

    @property
    def text(self) -> str:
        """The text parts of `message`, joined with newlines ("" when there are none)."""
        return text_of(self._request.message)

    @property
    def files(self) -> list[File]:
        """The raw and url parts of `message`, in order (see `agent_runtime.files`)."""
        return files_of(self._request.message)

    @property
    def history(self) -> list[pb.Message]:
        """Every earlier message of the task, oldest first (empty on the first turn)."""
        return list(self._request.history)

    @property
    def artifacts(self) -> list[pb.Artifact]:
        """Artifacts produced by earlier turns of the task."""
        return list(self._request.artifacts)

    @property
    def metadata(self) -> dict[str, Any]:
        """The request's metadata as plain JSON values (numbers are floats)."""
        return self._metadata

    @property
    def requested_extensions(self) -> tuple[str, ...]:
        """URIs of this agent's extensions the caller asked for (`A2A-Extensions`)."""
        return tuple(self._request.requested_extensions)

    def activate(self, uri: str) -> None:
        """Activate a requested extension for this turn; the caller is told in the
        `A2A-Extensions` response header. Call it before the first event (the gateway reads
        activations from the turn's first event only); raises ValueError for a URI the caller
        did not request, RuntimeError after the first event."""
        if uri not in self._request.requested_extensions:
            raise ValueError(f"extension {uri!r} was not requested by the caller")
        if self._events:
            raise RuntimeError("activate extensions before the turn's first event")
        if uri not in self._activated:
            self._activated.append(uri)

    @property
    def caller(self) -> Caller:
        return self._caller

    @property
    def events(self) -> int:
        """Events sent in this turn so far."""
        return self._events

    def span(self, name: str, **attributes: str | int | float | bool) -> ContextManager[Span]:
        """A span of the agent's own, current for a `with` block: a child of this turn's span
        (itself a child of the gateway's turn), so calls made inside carry the trace on.
        Non-recording when tracing is off. Attributes: ids and counts, never contents.

            with ctx.span("lookup", **{"db.system.name": "postgresql"}) as span:
                span.set_attribute("rows", 3)
        """
        return tracing.span(name, attributes)

    @property
    def cancelled(self) -> asyncio.Event:
        """Set when the gateway cancels the call."""
        return self._cancelled

    # State of the turn, read by the servicer.

    @property
    def final_state(self) -> pb.TaskState.ValueType | None:
        """The final state sent in this turn, or None while the turn is open."""
        return self._final_state

    @property
    def replied_directly(self) -> bool:
        """True when this turn starts a task and its only event so far is one `reply`.

        That is A2A's "message instead of a task". On a later turn (non-empty
        history) a lone reply belongs to the task, which still needs a final status.
        """
        first_turn = not self._request.history
        return first_turn and self._events == 1 and self._direct_replies == 1

    # Emitting.

    async def status(
        self,
        state: pb.TaskState.ValueType,
        text: Content | None = None,
        *,
        progress: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Send a status update; a final `state` ends the turn."""
        if state in (pb.TASK_STATE_UNSPECIFIED, pb.TASK_STATE_SUBMITTED):
            raise ValueError(f"an agent cannot send {pb.TaskState.Name(state)}")
        if progress is not None and not 0 <= progress <= 100:
            raise ValueError(f"progress must be between 0 and 100, got {progress}")
        update = pb.StatusUpdate(state=state, progress=progress)
        if text is not None:
            update.message.CopyFrom(self._agent_message(text))
        if metadata is not None:
            update.metadata.update(metadata)
        await self._emit(pb.AgentEvent(status=update), final=state in FINAL_STATES)

    async def working(self, text: Content | None = None) -> None:
        """Send WORKING, with an optional status message."""
        await self.status(pb.TASK_STATE_WORKING, text)

    async def progress(self, percent: int, text: Content | None = None) -> None:
        """Send WORKING with `percent` (0..100, ValueError otherwise) and an optional message."""
        await self.status(pb.TASK_STATE_WORKING, text, progress=percent)

    async def artifact(
        self,
        content: Content,
        *,
        name: str | None = None,
        artifact_id: str | None = None,
        description: str | None = None,
        append: bool = False,
        last_chunk: bool = True,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Send an artifact (or, with `append=True`, the next chunk of one); return its id.

        A new id (uuid4) is generated when `artifact_id` is None; appending needs the id.
        """
        if append and not artifact_id:
            raise ValueError("appending to an artifact needs its artifact_id")
        # Built in place: constructing the nested messages separately copies each one.
        event = pb.AgentEvent()
        update = event.artifact
        update.append = append
        update.last_chunk = last_chunk
        artifact = update.artifact
        artifact.artifact_id = artifact_id or new_id()
        if name:
            artifact.name = name
        if description:
            artifact.description = description
        if isinstance(content, str):
            artifact.parts.add(text=content, media_type="text/plain")
        else:
            artifact.parts.extend(to_parts(content))
        if metadata is not None:
            update.metadata.update(metadata)
        await self._emit(event)
        return artifact.artifact_id

    def artifact_stream(
        self,
        *,
        name: str | None = None,
        artifact_id: str | None = None,
        description: str | None = None,
    ) -> ArtifactStream:
        """An `ArtifactStream` that sends one artifact in chunks (see its docstring)."""
        return ArtifactStream(
            self, name=name, artifact_id=artifact_id or new_id(), description=description
        )

    async def reply(self, content: Content) -> None:
        """Send a direct reply (an `AgentEvent.message`).

        Named `reply` because `message` is the user's message of this turn.

        As the only event of a turn that starts a task, it answers the caller without
        creating a task, and the runtime then ends the call without COMPLETED. On a
        later turn it is recorded in the task's history like a status message.
        """
        await self._emit(pb.AgentEvent(message=self._agent_message(content)))
        self._direct_replies += 1

    async def complete(self, text: Content | None = None) -> None:
        """Final: COMPLETED, with an optional status message."""
        await self.status(pb.TASK_STATE_COMPLETED, text)

    async def fail(self, text: Content) -> None:
        """Final: FAILED, with a message that says why."""
        await self.status(pb.TASK_STATE_FAILED, text)

    async def reject(self, text: Content) -> None:
        """Final: REJECTED (the agent declines the task), with a message that says why."""
        await self.status(pb.TASK_STATE_REJECTED, text)

    async def input_required(self, text: Content) -> None:
        """Final for this turn: INPUT_REQUIRED; the answer starts a new turn with history."""
        await self.status(pb.TASK_STATE_INPUT_REQUIRED, text)

    async def auth_required(self, text: Content) -> None:
        """Final for this turn: AUTH_REQUIRED, with a message that says where to log in."""
        await self.status(pb.TASK_STATE_AUTH_REQUIRED, text)

    def _agent_message(self, content: Content) -> pb.Message:
        return agent_message(content, task_id=self.task_id, context_id=self.context_id)

    async def _emit(self, event: pb.AgentEvent, *, final: bool = False) -> None:
        async with self._lock:
            if self._final_state is not None:
                kind = event.WhichOneof("event")
                state = pb.TaskState.Name(self._final_state)
                raise RuntimeError(f"cannot send {kind}: the turn already ended with {state}")
            if final:
                self._final_state = event.status.state
            if not self._events and self._activated:
                event.activated_extensions.extend(self._activated)
            self._events += 1
            await self._write(event)
