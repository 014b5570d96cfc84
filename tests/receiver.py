"""A real webhook receiver on 127.0.0.1 for push tests: uvicorn in a thread, recording what
arrives. The path says how to answer (`NAME` groups a test's requests):

    /ok/NAME              200
    /fail/N/NAME          500 (with `Retry-After: 0`) to the first N requests, then 200
    /busy/S/NAME          503 with `Retry-After: S` to the first request, then 200
    /status/CODE/NAME     CODE, always
    /hang/NAME            no answer until the receiver stops
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from starlette.types import Receive, Scope, Send


@dataclass(frozen=True)
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event_id(self) -> int:
        return int(self.headers["a2a-event-id"])

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.body)
        return value


class Receiver:
    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stopping: asyncio.Event | None = None
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=0, log_level="error", interface="asgi3"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0

    def start(self) -> Receiver:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("the webhook receiver did not start within 20 s")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        loop = self.loop
        if loop is not None and self.stopping is not None:
            loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)

    loop: asyncio.AbstractEventLoop | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self.stopping is None:
            self.loop = asyncio.get_running_loop()
            self.stopping = asyncio.Event()
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path: str = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self.lock:
            self.hits.append(Hit(path, headers, body, time.monotonic()))
            count = self.counts[path] = self.counts.get(path, 0) + 1
        parts = path.strip("/").split("/")
        status, extra = 200, []
        if parts[0] == "fail" and count <= int(parts[1]):
            status, extra = 500, [(b"retry-after", b"0")]
        elif parts[0] == "busy" and count <= 1:
            status, extra = 503, [(b"retry-after", parts[1].encode())]
        elif parts[0] == "status":
            status = int(parts[1])
        elif parts[0] == "hang":
            await self.stopping.wait()
            return
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": b""})

    def at(self, path: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path == path]

    def wait_for(self, check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
        """Poll `check` until true (deadline `timeout` s: delivery is asynchronous)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.02)
        raise TimeoutError(f"not within {timeout} s: {what}; received {self.hits}")

    def wait_terminal(self, path: str, timeout: float = 30.0) -> list[Hit]:
        """The hits at `path` once one carries a terminal state."""

        def done() -> bool:
            return any(terminal(h.json) for h in self.at(path))

        self.wait_for(done, timeout, f"a terminal event at {path}")
        return self.at(path)


def state_of(body: dict[str, Any]) -> str | None:
    if "task" in body:
        return str(body["task"]["status"]["state"])
    if "statusUpdate" in body:
        return str(body["statusUpdate"]["status"]["state"])
    return None


def terminal(body: dict[str, Any]) -> bool:
    return state_of(body) in (
        "TASK_STATE_COMPLETED",
        "TASK_STATE_FAILED",
        "TASK_STATE_CANCELED",
        "TASK_STATE_REJECTED",
    )
