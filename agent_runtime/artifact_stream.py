"""`ArtifactStream`: send one artifact in chunks.

Design: the stream holds back one chunk. `write` sends the chunk before it (if any)
and keeps the new one, so when the stream is closed the real last chunk can carry
`last_chunk=True`, and no empty trailing chunk is needed. The first chunk sent has
`append=False` (it creates the artifact), every later one `append=True`. Closing a
stream that got no data sends one empty text chunk, so the artifact still exists.

Use it as an async context manager; the final chunk is sent on a normal exit only.
When the body raises (including cancellation), the held chunk is dropped: the call
is ending with an error anyway, and the contract allows no events after it.

    async with ctx.artifact_stream(name="report") as stream:
        await stream.write("first line\\n")
        await stream.write("second line\\n")
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent_runtime.context import TaskContext


class ArtifactStream:
    """Chunks of one artifact, sent through a `TaskContext`."""

    def __init__(
        self,
        ctx: TaskContext,
        *,
        artifact_id: str,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        self._ctx = ctx
        self._artifact_id = artifact_id
        self._name = name
        self._description = description
        self._held: str | bytes | None = None
        self._sent = 0
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"<ArtifactStream artifact_id={self._artifact_id!r} name={self._name!r} "
            f"sent={self._sent} closed={self._closed}>"
        )

    @property
    def artifact_id(self) -> str:
        return self._artifact_id

    async def write(self, chunk: str | bytes) -> None:
        """Add a chunk (text or raw bytes); it is sent on the next write or on close."""
        if self._closed:
            raise RuntimeError("the artifact stream is closed")
        if self._held is not None:
            await self._send(self._held, last_chunk=False)
        self._held = chunk

    async def close(self) -> None:
        """Send the held chunk with `last_chunk=True`. Closing twice does nothing."""
        if self._closed:
            return
        self._closed = True
        await self._send("" if self._held is None else self._held, last_chunk=True)
        self._held = None

    async def __aenter__(self) -> ArtifactStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.close()
        else:
            self._closed = True

    async def _send(self, chunk: str | bytes, *, last_chunk: bool) -> None:
        await self._ctx.artifact(
            chunk,
            artifact_id=self._artifact_id,
            name=self._name,
            description=self._description,
            append=self._sent > 0,
            last_chunk=last_chunk,
        )
        self._sent += 1
