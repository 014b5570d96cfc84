"""An agent's events: the rules each must keep, and how each applies to a task record.

`apply_event` checks one `AgentEvent` of a turn and applies it to the record, returning the
A2A body to log (task.py's mutators). An event that breaks a rule raises `BrokenRule` with
the record unchanged; the pump (pump.py) then fails the task with that InvalidAgentResponse.
The rules: an agent sets WORKING or a final state only, progress is 0-100, a message names
no other task or context and is not ROLE_USER, a message or a new artifact has parts, an
append names an artifact the task has. Ids the agent leaves empty are filled in.

`is_final` tells a final status (terminal or interrupted): the pump applies it only once the
call has ended (pump.py).
"""

from __future__ import annotations

import uuid
from typing import Any

from gateway.core import convert, errors
from gateway.core.task import (
    FINAL,
    SUBMITTED,
    WORKING,
    TaskRecord,
    add_artifact,
    set_status,
)
from generated import task_service_pb2 as pb

AGENT_ROLE = "ROLE_AGENT"


class BrokenRule(Exception):
    """The pump must fail the task with this A2A error."""

    def __init__(self, error: errors.A2AError) -> None:
        super().__init__(error.message)
        self.error = error


def agent_message(record_id: str, context_id: str, message: pb.Message) -> dict[str, Any]:
    """Check an agent message's ids and role, fill in what the agent left empty."""
    if message.task_id and message.task_id != record_id:
        raise BrokenRule(errors.invalid_agent_response(f"message names task {message.task_id!r}"))
    if message.context_id and message.context_id != context_id:
        raise BrokenRule(
            errors.invalid_agent_response(f"message names context {message.context_id!r}")
        )
    if message.role == pb.ROLE_USER:
        raise BrokenRule(errors.invalid_agent_response("an agent message has role ROLE_USER"))
    if not message.parts:
        raise BrokenRule(errors.invalid_agent_response("a message has no parts"))
    try:
        out = convert.message_to_json(message, role=AGENT_ROLE)
    except ValueError as exc:
        raise BrokenRule(errors.invalid_agent_response(str(exc))) from None
    out["messageId"] = message.message_id or str(uuid.uuid4())
    out["taskId"] = record_id
    out["contextId"] = context_id
    return out


def text_message(record: TaskRecord, text: str) -> dict[str, Any]:
    """The gateway's own agent message on a task: why it failed or was canceled."""
    return {
        "messageId": str(uuid.uuid4()),
        "contextId": record.context_id,
        "taskId": record.id,
        "role": AGENT_ROLE,
        "parts": [{"text": text}],
    }


def apply_event(record: TaskRecord, event: pb.AgentEvent, now: float) -> dict[str, Any]:
    """Validate one agent event against the rules, apply it to the record, return the body.

    Raises BrokenRule (the record unchanged) when the event breaks a rule.
    """
    kind = event.WhichOneof("event")
    if kind == "status":
        status = event.status
        state = convert.state_name(status.state)
        if state not in FINAL and state != WORKING:
            raise BrokenRule(errors.invalid_agent_response(f"an agent cannot set state {state}"))
        progress: int | None = None
        if status.HasField("progress"):
            if not 0 <= status.progress <= 100:
                raise BrokenRule(
                    errors.invalid_agent_response(f"progress {status.progress} is not 0-100")
                )
            progress = status.progress
        message = (
            agent_message(record.id, record.context_id, status.message)
            if status.HasField("message")
            else None
        )
        metadata = convert.struct_to_dict(status.metadata) if status.HasField("metadata") else None
        return set_status(record, state, message, now, metadata=metadata, progress=progress)
    if kind == "artifact":
        update = event.artifact
        try:
            artifact = convert.artifact_to_json(update.artifact)
        except ValueError as exc:
            raise BrokenRule(errors.invalid_agent_response(str(exc))) from None
        artifact_id = artifact["artifactId"]
        if update.append:
            if artifact_id not in record.artifacts:
                raise BrokenRule(
                    errors.invalid_agent_response(f"append to unknown artifact {artifact_id!r}")
                )
        else:
            if not artifact["parts"]:
                raise BrokenRule(errors.invalid_agent_response("a new artifact has no parts"))
            if not artifact_id:
                artifact["artifactId"] = str(uuid.uuid4())
        metadata = convert.struct_to_dict(update.metadata) if update.HasField("metadata") else None
        return add_artifact(
            record,
            artifact,
            now,
            append=update.append,
            last_chunk=update.last_chunk,
            metadata=metadata,
        )
    if kind == "message":
        message = agent_message(record.id, record.context_id, event.message)
        state = WORKING if record.state == SUBMITTED else record.state
        return set_status(record, state, message, now)
    raise BrokenRule(errors.invalid_agent_response("an AgentEvent with no event set"))


FINAL_CODES = frozenset(pb.TaskState.Value(name) for name in FINAL)


def is_final(event: pb.AgentEvent) -> bool:
    return event.HasField("status") and event.status.state in FINAL_CODES
