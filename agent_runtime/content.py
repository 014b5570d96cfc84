"""Message and part builders shared by the emitting methods of `TaskContext`.

`Content` is what agent code may pass wherever the runtime expects content: a
`str` becomes one text part (media type ``text/plain``), `bytes` one raw part,
and a sequence of `Part` protos is used as given (copied).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from generated import task_service_pb2 as pb

Content = str | bytes | Sequence[pb.Part]


def to_parts(content: Content) -> list[pb.Part]:
    """Turn `content` into a new list of parts; raise TypeError for anything else."""
    if isinstance(content, str):
        return [pb.Part(text=content, media_type="text/plain")]
    if isinstance(content, bytes):
        return [pb.Part(raw=content)]
    parts: list[pb.Part] = []
    for part in content:
        if not isinstance(part, pb.Part):
            raise TypeError(f"expected str, bytes or a sequence of Part, got {type(part).__name__}")
        copy = pb.Part()
        copy.CopyFrom(part)
        parts.append(copy)
    return parts


def text_of(message: pb.Message) -> str:
    """The text parts of `message`, joined with newlines (other parts are skipped)."""
    return "\n".join(part.text for part in message.parts if part.WhichOneof("content") == "text")


def new_id() -> str:
    """A fresh random id (uuid4, canonical form)."""
    return str(uuid.uuid4())


def agent_message(content: Content, *, task_id: str, context_id: str) -> pb.Message:
    """A message from the agent: ROLE_AGENT, a fresh message id, the turn's ids."""
    return pb.Message(
        message_id=new_id(),
        task_id=task_id,
        context_id=context_id,
        role=pb.ROLE_AGENT,
        parts=to_parts(content),
    )
