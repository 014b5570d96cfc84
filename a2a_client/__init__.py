"""An async A2A v1.0 client (httpx + httpx-sse) that resumes dropped streams by itself.

    from a2a_client import A2AClient, ArtifactEvent, StatusEvent

    async with A2AClient("http://127.0.0.1:8000/agents/document-analysis/") as client:
        async for event in client.stream("A2A lets agents talk."):
            if isinstance(event, StatusEvent):
                print(event.state, event.progress, event.message_text)
            elif isinstance(event, ArtifactEvent):
                print(event.text, end="")

`client.py` has the contract (resume, retries, timeouts); `errors.py` the exception tree;
`model.py` the typed events and tasks.
"""

from a2a_client.client import A2AClient, user_message
from a2a_client.errors import (
    A2AClientError,
    A2AError,
    ConnectionLost,
    NotAnA2AEndpoint,
    StreamingNotSupported,
)
from a2a_client.files import FileData, FileSaver, file_part, file_part_from_path, files_in
from a2a_client.model import (
    FINAL,
    INTERRUPTED,
    TERMINAL,
    Artifact,
    ArtifactEvent,
    Event,
    Message,
    MessageEvent,
    StatusEvent,
    Task,
    TaskEvent,
    TaskPage,
)

__all__ = [
    "FINAL",
    "INTERRUPTED",
    "TERMINAL",
    "A2AClient",
    "A2AClientError",
    "A2AError",
    "Artifact",
    "ArtifactEvent",
    "ConnectionLost",
    "Event",
    "FileData",
    "FileSaver",
    "Message",
    "MessageEvent",
    "NotAnA2AEndpoint",
    "StatusEvent",
    "StreamingNotSupported",
    "Task",
    "TaskEvent",
    "TaskPage",
    "file_part",
    "file_part_from_path",
    "files_in",
    "user_message",
]
