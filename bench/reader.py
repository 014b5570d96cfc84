"""The bench's SSE reader: a raw asyncio HTTP/1.1 client that opens one POST whose answer is
an SSE stream (the gateway's JSON-RPC or REST binding, the a2a-sdk server, the `sse`
workload's server) and parses it minimally: events counted by their `data:` lines, the time
of the first and the last, send-to-receive latency from the stamps of bench/workload.py, and
the end at the first final task state (or EOF)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.requests import stream_request
from bench.workload import STAMP

FINAL_MARKS = (
    b"TASK_STATE_COMPLETED",
    b"TASK_STATE_FAILED",
    b"TASK_STATE_CANCELED",
    b"TASK_STATE_REJECTED",
    b"TASK_STATE_INPUT_REQUIRED",
)


@dataclass
class Result:
    """What one stream saw."""

    events: int = 0
    sent: float = 0.0  # request written (monotonic)
    first: float = 0.0  # first event received
    first_chunk: float = 0.0  # first artifact chunk received
    last: float = 0.0
    final: bool = False
    error: str = ""
    task_id: str = ""
    latencies: list[int] = field(default_factory=list)  # ns


class SseProtocol(asyncio.Protocol):
    """One POST whose answer is an SSE stream; `done` resolves at the final event or EOF."""

    def __init__(self, request: bytes, result: Result, *, latency: bool, on_open: Any = None):
        self.request = request
        self.result = result
        self.latency = latency
        self.on_open = on_open
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.in_body = False
        self.answer = False  # the answer is not an SSE stream (an error in JSON)
        self.chunked = False
        self.raw = b""
        self.chunk_left = 0
        self.pending = b""
        self.term = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        assert self.transport is not None
        self.result.sent = time.monotonic()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = self.head[:end], self.head[end + 4 :]
            self.in_body = True
            status = head.split(b" ", 2)[1]
            if status != b"200":
                self.finish(f"HTTP {status.decode()}")
                return
            if b"content-type: text/event-stream" not in head.lower():
                # a JSON-RPC error answered in place of a stream: say which
                self.answer = True
            self.chunked = b"transfer-encoding: chunked" in head.lower()
        if self.chunked:
            data = self.dechunk(data)
        if self.answer:
            self.pending += data
            if self.pending.rstrip().endswith(b"}"):  # the whole JSON answer
                self.finish(
                    f"answered without a stream: {self.pending[:300].decode(errors='replace')}"
                )
            return
        if data:
            self.feed(data)

    def dechunk(self, data: bytes) -> bytes:
        raw = self.raw + data if self.raw else data
        out: list[bytes] = []
        pos = 0
        while pos < len(raw):
            if self.chunk_left == 0:
                eol = raw.find(b"\r\n", pos)
                if eol < 0:
                    break
                line = raw[pos:eol]
                pos = eol + 2
                if not line:
                    continue
                size = int(line.split(b";", 1)[0], 16)
                if size == 0:
                    pos = len(raw)
                    break
                self.chunk_left = size
            take = raw[pos : pos + self.chunk_left]
            out.append(take)
            self.chunk_left -= len(take)
            pos += len(take)
        self.raw = raw[pos:]
        return b"".join(out)

    def feed(self, data: bytes) -> None:
        buf = self.pending + data if self.pending else data
        if not self.term:
            self.term = b"\r\n\r\n" if b"\r\n" in buf else b"\n\n"
        cut = buf.rfind(self.term)
        if cut < 0:
            self.pending = buf
            return
        cut += len(self.term)
        region, self.pending = buf[:cut], buf[cut:]
        count = region.count(b"data:")
        if not count:
            return
        now = time.monotonic()
        result = self.result
        if not result.events:
            result.first = now
            self.first_event(region)
        result.events += count
        result.last = now
        if self.latency or not result.first_chunk:
            stamp = region.find(STAMP)
            if stamp >= 0 and not result.first_chunk:
                result.first_chunk = now
            if self.latency:
                now_ns = time.monotonic_ns()
                while stamp >= 0:
                    start = stamp + len(STAMP)
                    sent = int(region[start : region.index(b"|", start)])
                    result.latencies.append(now_ns - sent)
                    stamp = region.find(STAMP, start)
        if b'"error"' in region:
            self.finish(region.decode(errors="replace")[:300])
            return
        for mark in FINAL_MARKS:
            if mark in region:
                result.final = True
                self.finish()
                return

    def first_event(self, region: bytes) -> None:
        for line in region.split(b"\n"):
            if line.startswith(b"data:"):
                body = orjson.loads(line[5:])
                result = body.get("result", body)  # JSON-RPC wraps it, REST does not
                if "task" in result:
                    self.result.task_id = result["task"]["id"]
                else:
                    for value in result.values():
                        if isinstance(value, dict) and "taskId" in value:
                            self.result.task_id = value["taskId"]
                break
        if self.on_open is not None:
            self.on_open(self)

    def finish(self, error: str = "") -> None:
        if error and not self.result.error:
            self.result.error = error
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if not self.result.final and not self.result.error:
                self.result.error = f"connection closed early: {exc}"
            self.done.set_result(None)


async def sse_open(
    url: str, body: bytes, result: Result, *, latency: bool = False, on_open: Any = None
) -> SseProtocol:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nAccept: text/event-stream\r\nA2A-Version: 1.0\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: SseProtocol(request, result, latency=latency, on_open=on_open), host, port
    )
    return protocol


async def sse_stream(kind: str, url: str, spec: str, *, latency: bool) -> Result:
    result = Result()
    protocol = await sse_open(*stream_request(kind, url, spec), result, latency=latency)
    await protocol.done
    return result
