"""The task model: one record per task and the pure rules that change it.

A `TaskRecord` is the gateway's view of an A2A task. Every change goes through one of the
functions below, which mutate the record and return the A2A v1.0 `StreamResponse` body that
describes the change, so the task store and the event log can never disagree. Each function is
O(1) in the length of the task (no copying of the growing task), except `begin_turn`, which
takes one snapshot per turn.

`apply_body` replays a logged body onto a record: folding the bodies of a task's log (after a
checkpoint from `dump`/`restore`) rebuilds the record the mutators built, field for field.
That is how a shared backend (redis_store.py) keeps an O(1) write per event.

History follows the official SDK: the message of the current status is not in `history`; it
moves there when the next status (or the next user message) replaces it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

SUBMITTED = "TASK_STATE_SUBMITTED"
WORKING = "TASK_STATE_WORKING"
COMPLETED = "TASK_STATE_COMPLETED"
FAILED = "TASK_STATE_FAILED"
CANCELED = "TASK_STATE_CANCELED"
REJECTED = "TASK_STATE_REJECTED"
INPUT_REQUIRED = "TASK_STATE_INPUT_REQUIRED"
AUTH_REQUIRED = "TASK_STATE_AUTH_REQUIRED"

STATES = (SUBMITTED, WORKING, COMPLETED, FAILED, CANCELED, REJECTED, INPUT_REQUIRED, AUTH_REQUIRED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELED, REJECTED})
INTERRUPTED = frozenset({INPUT_REQUIRED, AUTH_REQUIRED})
FINAL = TERMINAL | INTERRUPTED


def timestamp(now: float) -> str:
    """ISO 8601 UTC with millisecond precision, as A2A section 5.6.1 asks."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(slots=True)
class TaskRecord:
    id: str
    context_id: str
    agent: str
    owner: str
    state: str = SUBMITTED
    status_message: dict[str, Any] | None = None
    updated: float = field(default_factory=time.time)
    created: float = field(default_factory=time.time)
    history: list[dict[str, Any]] = field(default_factory=list)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    last_seq: int = 0

    def __repr__(self) -> str:
        return (
            f"<TaskRecord id={self.id} agent={self.agent} state={self.state} "
            f"seq={self.last_seq} artifacts={len(self.artifacts)}>"
        )

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def interrupted(self) -> bool:
        return self.state in INTERRUPTED

    def messages(self) -> list[dict[str, Any]]:
        """Every message of the task, oldest first (history plus the current status message)."""
        if self.status_message is None:
            return list(self.history)
        return [*self.history, self.status_message]

    def status_json(self) -> dict[str, Any]:
        status: dict[str, Any] = {"state": self.state}
        if self.status_message is not None:
            status["message"] = self.status_message
        status["timestamp"] = timestamp(self.updated)
        return status

    def to_json(
        self, *, history_length: int | None = None, include_artifacts: bool = True
    ) -> dict[str, Any]:
        """The A2A v1.0 Task object (shares nested objects with the record: encode it now)."""
        task: dict[str, Any] = {
            "id": self.id,
            "contextId": self.context_id,
            "status": self.status_json(),
        }
        if include_artifacts and self.artifacts:
            task["artifacts"] = list(self.artifacts.values())
        if history_length is None:
            history = self.history
        elif history_length <= 0:
            history = []
        else:
            history = self.history[-history_length:]
        if history:
            task["history"] = list(history)
        if self.metadata:
            task["metadata"] = self.metadata
        return task


def _move_status_message(record: TaskRecord) -> None:
    if record.status_message is not None:
        record.history.append(record.status_message)
        record.status_message = None


def begin_turn(record: TaskRecord, user_message: dict[str, Any], now: float) -> dict[str, Any]:
    """A user message starts a turn: the task is SUBMITTED again with the message in history.

    Returns `{"task": snapshot}`: the first event of the turn's stream. The snapshot is a deep
    copy (once per turn), so later changes never alter an event already logged.
    """
    _move_status_message(record)
    record.history.append(user_message)
    record.state = SUBMITTED
    record.updated = now
    snapshot: dict[str, Any] = orjson.loads(orjson.dumps(record.to_json()))
    return {"task": snapshot}


def set_status(
    record: TaskRecord,
    state: str,
    message: dict[str, Any] | None,
    now: float,
    *,
    metadata: dict[str, Any] | None = None,
    progress: int | None = None,
) -> dict[str, Any]:
    """A new status (with optional message and progress); returns `{"statusUpdate": ...}`."""
    _move_status_message(record)
    record.state = state
    record.status_message = message
    record.updated = now
    event: dict[str, Any] = {
        "taskId": record.id,
        "contextId": record.context_id,
        "status": record.status_json(),
    }
    event_metadata = dict(metadata) if metadata else {}
    if progress is not None:
        event_metadata["progress"] = progress
    if "progress" in event_metadata:
        # The task's progress is the last one an event reported (kept replayable: see apply_body).
        record.metadata["progress"] = event_metadata["progress"]
    if event_metadata:
        event["metadata"] = event_metadata
    return {"statusUpdate": event}


def add_artifact(
    record: TaskRecord,
    artifact: dict[str, Any],
    now: float,
    *,
    append: bool,
    last_chunk: bool,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A new artifact or the next chunk of one; returns `{"artifactUpdate": ...}`.

    The caller has checked that an appended chunk names a known artifact.
    """
    artifact_id = artifact["artifactId"]
    existing = record.artifacts.get(artifact_id)
    if append and existing is not None:
        existing["parts"].extend(artifact["parts"])
    else:
        record.artifacts[artifact_id] = {**artifact, "parts": list(artifact["parts"])}
    record.updated = now
    event: dict[str, Any] = {
        "taskId": record.id,
        "contextId": record.context_id,
        "artifact": artifact,
        "append": append,
        "lastChunk": last_chunk,
    }
    if metadata:
        event["metadata"] = metadata
    return {"artifactUpdate": event}


def apply_body(record: TaskRecord, body: dict[str, Any], now: float) -> None:
    """Replay one logged event body (made by the functions above at `now`) onto `record`.

    The result equals what the original function did to the record; the body is not shared
    with the record afterwards (a log's bodies are immutable).
    """
    snapshot = body.get("task")
    if snapshot is not None:
        copy: dict[str, Any] = orjson.loads(orjson.dumps(snapshot))
        status = copy["status"]
        record.state = status["state"]
        record.status_message = status.get("message")
        record.history = copy.get("history", [])
        record.artifacts = {a["artifactId"]: a for a in copy.get("artifacts", [])}
        record.metadata = copy.get("metadata", {})
        record.updated = now
        return
    update = body.get("statusUpdate")
    if update is not None:
        update = orjson.loads(orjson.dumps(update))
        _move_status_message(record)
        record.state = update["status"]["state"]
        record.status_message = update["status"].get("message")
        record.updated = now
        metadata = update.get("metadata") or {}
        if "progress" in metadata:
            record.metadata["progress"] = metadata["progress"]
        return
    change = body.get("artifactUpdate")
    if change is not None:
        artifact = orjson.loads(orjson.dumps(change["artifact"]))
        add_artifact(record, artifact, now, append=change["append"], last_chunk=change["lastChunk"])
        return
    raise ValueError(f"not an event body of a task: {sorted(body)}")


def dump(record: TaskRecord) -> bytes:
    """The whole record as JSON (a checkpoint); `restore` reads it back."""
    return orjson.dumps(
        {
            "id": record.id,
            "contextId": record.context_id,
            "agent": record.agent,
            "owner": record.owner,
            "state": record.state,
            "statusMessage": record.status_message,
            "updated": record.updated,
            "created": record.created,
            "history": record.history,
            "artifacts": list(record.artifacts.values()),
            "metadata": record.metadata,
            "lastSeq": record.last_seq,
        }
    )


def restore(data: bytes | str) -> TaskRecord:
    fields = orjson.loads(data)
    return TaskRecord(
        id=fields["id"],
        context_id=fields["contextId"],
        agent=fields["agent"],
        owner=fields["owner"],
        state=fields["state"],
        status_message=fields["statusMessage"],
        updated=fields["updated"],
        created=fields["created"],
        history=fields["history"],
        artifacts={a["artifactId"]: a for a in fields["artifacts"]},
        metadata=fields["metadata"],
        last_seq=fields["lastSeq"],
    )


def is_final(body: dict[str, Any]) -> bool:
    """True when an event body ends a stream: a terminal or interrupted status."""
    update = body.get("statusUpdate")
    if update is not None:
        return update["status"]["state"] in FINAL
    task = body.get("task")
    if task is not None:
        return task["status"]["state"] in FINAL
    return False


def is_terminal(body: dict[str, Any]) -> bool:
    """True when an event body carries a terminal status (a task's stream MUST end there)."""
    update = body.get("statusUpdate")
    if update is None:
        update = body.get("task")
    return update is not None and update["status"]["state"] in TERMINAL
