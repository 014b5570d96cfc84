"""Typed views of A2A v1.0 JSON: tasks, messages, artifacts, and the four stream events.

Every object keeps the JSON it was made from in `raw`, so nothing the server sent is lost.
States are short names: `TASK_STATE_INPUT_REQUIRED` reads `"input-required"` (the v0.3
spelling), `TASK_STATE_COMPLETED` reads `"completed"`.

A stream yields `Event`s: `TaskEvent` (the Task, first on a new stream or a subscription),
`StatusEvent`, `ArtifactEvent`, or `MessageEvent` (an agent's direct reply, no task).
`Event.id` is the SSE id (the task's sequence number), None for an event without one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TERMINAL = frozenset({"completed", "failed", "canceled", "rejected"})
INTERRUPTED = frozenset({"input-required", "auth-required"})
FINAL = TERMINAL | INTERRUPTED


def state_name(wire: str) -> str:
    """`TASK_STATE_INPUT_REQUIRED` -> `input-required` (v0.3 names pass through)."""
    return wire.removeprefix("TASK_STATE_").lower().replace("_", "-")


def text_of(parts: Any) -> str:
    """The text parts, joined (without separator: chunks of one text must not gain any)."""
    if not isinstance(parts, list):
        return ""
    return "".join(str(p["text"]) for p in parts if isinstance(p, dict) and "text" in p)


def _progress(metadata: Any) -> int | None:
    if isinstance(metadata, dict) and isinstance(metadata.get("progress"), int | float):
        return int(metadata["progress"])
    return None


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    role: str
    text: str
    parts: list[dict[str, Any]]
    task_id: str | None
    context_id: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Message:
        return cls(
            message_id=str(raw.get("messageId", "")),
            role=str(raw.get("role", "")),
            text=text_of(raw.get("parts")),
            parts=list(raw.get("parts") or []),
            task_id=raw.get("taskId"),
            context_id=raw.get("contextId"),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class Artifact:
    artifact_id: str
    name: str
    text: str
    parts: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Artifact:
        return cls(
            artifact_id=str(raw.get("artifactId", "")),
            name=str(raw.get("name", "")),
            text=text_of(raw.get("parts")),
            parts=list(raw.get("parts") or []),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    context_id: str
    state: str
    status_text: str
    progress: int | None
    artifacts: list[Artifact]
    history: list[Message]
    raw: dict[str, Any] = field(repr=False)

    @property
    def final(self) -> bool:
        """Terminal or interrupted: nothing more happens until someone acts."""
        return self.state in FINAL

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Task:
        status = raw.get("status") or {}
        return cls(
            id=str(raw.get("id", "")),
            context_id=str(raw.get("contextId", "")),
            state=state_name(str(status.get("state", ""))),
            status_text=text_of((status.get("message") or {}).get("parts")),
            progress=_progress(raw.get("metadata")),
            artifacts=[Artifact.from_json(a) for a in raw.get("artifacts") or []],
            history=[Message.from_json(m) for m in raw.get("history") or []],
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of ListTasks, newest first."""

    tasks: list[Task]
    next_page_token: str
    total_size: int


@dataclass(frozen=True, slots=True)
class TaskEvent:
    task: Task
    id: int | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def final(self) -> bool:
        return self.task.final


@dataclass(frozen=True, slots=True)
class StatusEvent:
    task_id: str
    state: str
    message_text: str
    progress: int | None
    final: bool
    metadata: dict[str, Any]
    id: int | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class ArtifactEvent:
    """One chunk: `append` False starts (or replaces) the artifact, True adds to it."""

    task_id: str
    artifact_id: str
    name: str
    text: str
    parts: list[dict[str, Any]]
    append: bool
    last_chunk: bool
    id: int | None
    raw: dict[str, Any] = field(repr=False)

    final = False


@dataclass(frozen=True, slots=True)
class MessageEvent:
    message: Message
    id: int | None
    raw: dict[str, Any] = field(repr=False)

    final = True  # a direct reply ends the exchange


Event = TaskEvent | StatusEvent | ArtifactEvent | MessageEvent


def event_from_result(result: dict[str, Any], event_id: int | None) -> Event:
    """The typed event for one stream `result` (v1.0 shape); ValueError for anything else."""
    if "task" in result:
        return TaskEvent(Task.from_json(result["task"]), event_id, result)
    if "statusUpdate" in result:
        update = result["statusUpdate"]
        status = update.get("status") or {}
        state = state_name(str(status.get("state", "")))
        return StatusEvent(
            task_id=str(update.get("taskId", "")),
            state=state,
            message_text=text_of((status.get("message") or {}).get("parts")),
            progress=_progress(update.get("metadata")),
            final=state in FINAL,
            metadata=dict(update.get("metadata") or {}),
            id=event_id,
            raw=result,
        )
    if "artifactUpdate" in result:
        update = result["artifactUpdate"]
        artifact = Artifact.from_json(update.get("artifact") or {})
        return ArtifactEvent(
            task_id=str(update.get("taskId", "")),
            artifact_id=artifact.artifact_id,
            name=artifact.name,
            text=artifact.text,
            parts=artifact.parts,
            append=bool(update.get("append", False)),
            last_chunk=bool(update.get("lastChunk", False)),
            id=event_id,
            raw=result,
        )
    if "message" in result:
        return MessageEvent(Message.from_json(result["message"]), event_id, result)
    raise ValueError(f"not an A2A stream event: {sorted(result)}")
