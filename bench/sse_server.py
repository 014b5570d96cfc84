"""The server of the `sse` workload (bench/sse.py): one tiny Starlette app, two routes that
differ only in the SSE response class, fed by the same async generator of pre-encoded events.

- `POST /ours`: the gateway's `EventStream` (`gateway.http.sse.response`), fed the same
  frames as batches of one event each (`Framed`: each event's body is its frame);
- `POST /sse-starlette`: sse-starlette's `EventSourceResponse`, with its defaults (a ping
  task every 15 s, its shutdown watcher).

The request is the bench's JSON-RPC SendStreamingMessage (bench/requests.py), so the bench's
own SSE client (bench/client.py) reads both routes; its text is a `Spec` (bench/workload.py).
The body: a WORKING task event, then `events` artifact events of `size` bytes of text, then
a COMPLETED status event (the client's end mark); with `hold` > 0, the WORKING event, then
`hold` seconds of silence (an idle stream), then COMPLETED. Every event is one SSE frame
(`id:` and `data:`), encoded once per spec and shared, and one chunk of the body: what is
measured is the response class's cost per chunk and per open stream.

Served as the gateway serves: uvicorn on uvloop (when installed) with the gateway's HTTP
protocol (`gateway.http.server.limited_protocol`: httptools, head limits, and the scope
extension that tells our response of a lost connection, so it runs no watcher task); with
`--server uvicorn`, uvicorn's own protocol (httptools when installed), under which our
response runs one watcher task per stream. sse-starlette patches uvicorn's signal handling
process-wide when imported: harmless in this process of its own.

    python -m bench.sse_server [--server gateway|uvicorn]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.procs import listening, raise_nofile, run_fast, server_options
from bench.sse import LINE, ROUTES
from bench.workload import ARTIFACT_ID, Spec
from gateway.core import errors
from gateway.core.events import Event
from gateway.http import sse

SERVERS = ("gateway", "uvicorn")


def _frame(seq: int, result: dict[str, Any]) -> bytes:
    data = orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": result})
    return b"id: %d\ndata: %b\n\n" % (seq, data)


@functools.lru_cache(maxsize=8)
def frames(events: int, size: int) -> tuple[bytes, tuple[bytes, ...], bytes]:
    """(the WORKING event, `events` artifact events, the COMPLETED event), encoded."""
    ids = {"taskId": ARTIFACT_ID, "contextId": ARTIFACT_ID}
    working = {
        "id": ARTIFACT_ID,
        "contextId": ARTIFACT_ID,
        "status": {"state": "TASK_STATE_WORKING"},
    }
    artifact = {"artifactId": ARTIFACT_ID, "parts": [{"text": "x" * size}]}
    chunks = tuple(
        _frame(seq, {"artifactUpdate": {**ids, "artifact": artifact, "append": seq > 2}})
        for seq in range(2, events + 2)
    )
    done = {"statusUpdate": {**ids, "status": {"state": "TASK_STATE_COMPLETED"}}}
    return _frame(1, {"task": working}), chunks, _frame(events + 2, done)


async def events(spec: Spec) -> AsyncIterator[bytes]:
    """The body both response classes are fed: one pre-encoded SSE event per chunk."""
    first, chunks, last = frames(0 if spec.hold > 0 else spec.events, spec.size)
    yield first
    if spec.hold > 0:
        await asyncio.sleep(spec.hold)
    for chunk in chunks:
        yield chunk
    yield last


class Framed:
    """The `sse.Framing` of events whose v1.0 JSON is preset to their whole SSE frame."""

    def event(self, event: Event) -> bytes:
        return event.encoded()

    def error(self, exc: errors.A2AError) -> bytes:
        return b""


@functools.lru_cache(maxsize=8)
def framed(events: int, size: int) -> tuple[Event, tuple[Event, ...], Event]:
    """`frames(events, size)` as events, made once per spec like the frames."""

    def event(frame: bytes) -> Event:
        made = Event(0, {}, False)
        made.preset(frame)
        return made

    first, chunks, last = frames(events, size)
    return event(first), tuple(map(event, chunks)), event(last)


async def batches(spec: Spec) -> AsyncIterator[list[Event]]:
    """`events(spec)`, as the batches our response writes: one event (one frame) each."""
    first, chunks, last = framed(0 if spec.hold > 0 else spec.events, spec.size)
    yield [first]
    if spec.hold > 0:
        await asyncio.sleep(spec.hold)
    for chunk in chunks:
        yield [chunk]
    yield [last]


async def spec_of(request: Request) -> Spec:
    body = orjson.loads(await request.body())
    return Spec.parse(body["params"]["message"]["parts"][0]["text"])


async def ours(request: Request) -> Response:
    return sse.response(batches(await spec_of(request)), Framed())


async def sse_starlette(request: Request) -> Response:
    return EventSourceResponse(events(await spec_of(request)))


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route(f"/{ROUTES['ours']}", ours, methods=["POST"]),
            Route(f"/{ROUTES['sse_starlette']}", sse_starlette, methods=["POST"]),
        ]
    )


async def serve(server: str) -> None:
    sock = listening()
    options = server_options()
    if server == "gateway":
        from gateway.http.server import limited_protocol

        options["http"] = limited_protocol(64 * 1024, 10.0)  # the gateway's defaults
    config = uvicorn.Config(
        create_app(),
        log_level="warning",
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=False,
        timeout_graceful_shutdown=2,
        **options,
    )
    print(f"{LINE} http://127.0.0.1:{sock.getsockname()[1]}/", flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description="The sse workload's server.")
    parser.add_argument("--server", choices=SERVERS, default="gateway")
    args = parser.parse_args()
    raise_nofile()
    run_fast(serve(args.server))


if __name__ == "__main__":
    main()
