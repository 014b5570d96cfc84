"""A TCP proxy on 127.0.0.1 that cuts event streams: the "network drops" of the resume tests.

It forwards bytes both ways unchanged. When a response from upstream starts with a head that
says `text/event-stream`, it counts that response's bytes and, after `cut_after` of them,
closes both sockets abruptly (the client sees a connection reset mid-event), at most `cuts`
times. Everything else (cards, JSON answers, the UI's files) passes untouched.

It runs its own event loop in a thread, so sync tests (Playwright) and async tests can both
use it: `with CuttingProxy(upstream_url, cut_after=1500) as proxy: proxy.url ...`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from types import TracebackType
from urllib.parse import urlsplit


class CuttingProxy:
    def __init__(self, upstream: str, *, cut_after: int, cuts: int = 1) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.cut_after = cut_after
        self.cuts_left = cuts
        self.cuts_done = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __repr__(self) -> str:
        return f"<CuttingProxy :{self.port} -> :{self.upstream_port} cuts_done={self.cuts_done}>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        started: Future[asyncio.Server] = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        )
        self._server = started.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for _ in range(3):  # let the aborted transports run their connection_lost
                await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            writer.transport.abort()
            return
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer), self._responses(up_reader, writer, up_writer)
            )
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, up_writer):
                w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    async def _responses(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: asyncio.StreamWriter,
    ) -> None:
        counted: int | None = None  # bytes of the current event-stream response, if armed
        while data := await reader.read(65536):
            if data.startswith(b"HTTP/1."):
                head = data.partition(b"\r\n\r\n")[0].lower()
                armed = b"text/event-stream" in head and self.cuts_left > 0
                counted = 0 if armed else None
            if counted is not None and counted + len(data) > self.cut_after:
                writer.write(data[: self.cut_after - counted])
                await writer.drain()
                self.cuts_left -= 1
                self.cuts_done += 1
                writer.transport.abort()
                upstream.transport.abort()
                return
            if counted is not None:
                counted += len(data)
            writer.write(data)
            await writer.drain()
