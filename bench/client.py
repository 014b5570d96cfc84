"""Bench clients, one process each, one JSON line of results on stdout.

Three clients read the same workload: `sse` (a raw asyncio HTTP/1.1 client that parses
SSE minimally, bench/reader.py, speaking JSON-RPC to the gateway and the a2a-sdk server
alike), `rest` (the same reader, speaking the gateway's HTTP+JSON binding: requests.py),
`grpc` (a grpc.aio client calling the agent's Run directly: the ceiling) and `a2a-grpc` (a
grpc.aio client of the gateway's gRPC binding, `lf.a2a.v1.A2AService`). Modes:

- stream:  `--streams` concurrent streams of the spec; events, first and last times,
           and (with `--latency`) receive - send of every chunk, in microseconds;
- serial:  `--streams` streams one after the other (time to first event, cost per event);
- fanout:  (sse, rest, a2a-grpc) one SendStreamingMessage plus `--streams - 1`
           SubscribeToTask on it;
- idle:    open `--streams` idle streams, print {"open": n}, close on a line on stdin.

For `sse` and `rest`, `--url` may list several replicas of one gateway, comma-separated:
stream k goes to replica k mod n (the fan-out's sender, stream 0, to the first; its
subscribers round robin).

    python -m bench.client sse stream --url http://127.0.0.1:8000/ --streams 10 \
        --spec "events=1000;size=200"
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
import uuid
from collections.abc import Awaitable
from typing import Any

import httpx
import orjson

from bench.procs import raise_nofile
from bench.reader import Result, SseProtocol, sse_open, sse_stream
from bench.requests import request_body, send_params, stream_request, subscribe_request
from bench.workload import Spec, stamp_of

# --- direct gRPC -------------------------------------------------------------------------


class GrpcClient:
    def __init__(self, target: str) -> None:
        import grpc

        from generated import task_service_pb2 as pb
        from generated import task_service_pb2_grpc as pb_grpc

        self.pb = pb
        self.channel = grpc.aio.insecure_channel(target)
        self.stub = pb_grpc.TaskServiceStub(self.channel)

    async def stream(self, spec: str, *, latency: bool) -> Result:
        pb = self.pb
        result = Result()
        request = pb.RunRequest(
            task_id=str(uuid.uuid4()),
            context_id=str(uuid.uuid4()),
            message=pb.Message(
                message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[pb.Part(text=spec)]
            ),
        )
        result.sent = time.monotonic()
        async for event in self.stub.Run(request):
            now = time.monotonic()
            if not result.events:
                result.first = now
            result.events += 1
            result.last = now
            if event.HasField("artifact"):
                if not result.first_chunk:
                    result.first_chunk = now
                if latency:
                    sent = stamp_of(event.artifact.artifact.parts[0].text)
                    result.latencies.append(time.monotonic_ns() - sent)
            elif event.HasField("status") and event.status.state == pb.TASK_STATE_COMPLETED:
                result.final = True
        return result


class A2AGrpcClient:
    """The gateway's gRPC binding: SendStreamingMessage and SubscribeToTask."""

    FINAL = frozenset({3, 4, 5, 6, 7, 8})  # completed, failed, canceled, input/rejected/auth

    def __init__(self, target: str) -> None:
        import grpc
        from a2a.types import a2a_pb2 as pb

        self.pb = pb
        self.channel = grpc.aio.insecure_channel(target)
        self.send = self.channel.unary_stream(
            "/lf.a2a.v1.A2AService/SendStreamingMessage",
            request_serializer=pb.SendMessageRequest.SerializeToString,
            response_deserializer=pb.StreamResponse.FromString,
        )
        self.subscribe = self.channel.unary_stream(
            "/lf.a2a.v1.A2AService/SubscribeToTask",
            request_serializer=pb.SubscribeToTaskRequest.SerializeToString,
            response_deserializer=pb.StreamResponse.FromString,
        )

    async def stream(self, spec: str, *, latency: bool, on_open: Any = None) -> Result:
        pb = self.pb
        message = pb.Message(
            message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[pb.Part(text=spec)]
        )
        result = Result()
        result.sent = time.monotonic()
        await self.read(
            self.send(pb.SendMessageRequest(message=message), metadata=A2A_V1),
            result,
            latency=latency,
            on_open=on_open,
        )
        return result

    async def follow(self, task_id: str) -> Result:
        result = Result()
        result.sent = time.monotonic()
        request = self.pb.SubscribeToTaskRequest(id=task_id)
        await self.read(self.subscribe(request, metadata=A2A_V1), result, latency=False)
        return result

    async def read(self, call: Any, result: Result, *, latency: bool, on_open: Any = None) -> None:
        try:
            async for event in call:
                now = time.monotonic()
                if not result.events:
                    result.first = now
                    result.task_id = event.task.id if event.HasField("task") else ""
                    if on_open is not None:
                        on_open(result)
                result.events += 1
                result.last = now
                if event.HasField("artifact_update"):
                    if not result.first_chunk:
                        result.first_chunk = now
                    if latency:
                        sent = stamp_of(event.artifact_update.artifact.parts[0].text)
                        result.latencies.append(time.monotonic_ns() - sent)
                elif event.HasField("status_update"):
                    result.final = event.status_update.status.state in self.FINAL
        except Exception as exc:  # a grpc.aio.AioRpcError: report it, as the SSE client does
            result.error = f"{type(exc).__name__}: {exc}"[:300]


A2A_V1 = (("a2a-version", "1.0"),)


# --- modes ---------------------------------------------------------------------------------


def summary(results: list[Result], *, latency: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "streams": len(results),
        "events": sum(r.events for r in results),
        "start": min(r.sent for r in results),
        "end": max(r.last for r in results),
        "first_chunk": min((r.first_chunk for r in results if r.first_chunk), default=0.0),
        "ttfe": [r.first - r.sent for r in results if r.first],
        "incomplete": sum(not r.final for r in results),
        "errors": sorted({r.error for r in results if r.error})[:5],
    }
    if latency:
        out["latencies_ns"] = [n for r in results for n in r.latencies]
    return out


async def mode_stream(args: argparse.Namespace) -> dict[str, Any]:
    run = stream_runner(args)
    results = await gather_bounded([run(args.spec) for _ in range(args.streams)], args.timeout)
    return summary(results, latency=args.latency)


async def mode_serial(args: argparse.Namespace) -> dict[str, Any]:
    run = stream_runner(args)
    results = [await asyncio.wait_for(run(args.spec), args.timeout) for _ in range(args.streams)]
    return summary(results)


def stream_runner(args: argparse.Namespace) -> Any:
    if args.kind == "grpc":
        client = GrpcClient(args.url)
        return lambda spec: client.stream(spec, latency=args.latency)
    if args.kind == "a2a-grpc":
        a2a = A2AGrpcClient(args.url)
        return lambda spec: a2a.stream(spec, latency=args.latency)
    urls = itertools.cycle(args.url.split(","))
    return lambda spec: sse_stream(args.kind, next(urls), spec, latency=args.latency)


async def gather_bounded(coros: list[Awaitable[Result]], timeout: float) -> list[Result]:
    return list(await asyncio.wait_for(asyncio.gather(*coros), timeout))


async def mode_fanout(args: argparse.Namespace) -> dict[str, Any]:
    """One task, `streams` subscribers: the sender and `streams - 1` SubscribeToTask."""
    if args.kind == "a2a-grpc":
        return await grpc_fanout(args)
    urls = args.url.split(",")
    first = Result()
    opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sender = await sse_open(
        *stream_request(args.kind, urls[0], args.spec),
        first,
        on_open=lambda _: opened.done() or opened.set_result(None),  # type: ignore[func-returns-value]
    )
    await asyncio.wait_for(opened, args.timeout)
    others = [Result() for _ in range(args.streams - 1)]
    subscribers = await asyncio.gather(
        *(
            sse_open(*subscribe_request(args.kind, urls[(i + 1) % len(urls)], first.task_id), r)
            for i, r in enumerate(others)
        )
    )
    await asyncio.wait_for(
        asyncio.gather(sender.done, *(s.done for s in subscribers)), args.timeout
    )
    results = [first, *others]
    out = summary(results)
    out["late"] = sum(
        1 for r in others if not r.first or (first.first_chunk and r.first > first.first_chunk)
    )
    return out


async def grpc_fanout(args: argparse.Namespace) -> dict[str, Any]:
    """mode_fanout on the gateway's gRPC binding."""
    client = A2AGrpcClient(args.url)
    opened: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_open(result: Result) -> None:
        if not opened.done():
            opened.set_result(result.task_id)

    sender = asyncio.ensure_future(client.stream(args.spec, latency=False, on_open=on_open))
    task_id = await asyncio.wait_for(opened, args.timeout)
    others = [client.follow(task_id) for _ in range(args.streams - 1)]
    results = await asyncio.wait_for(asyncio.gather(sender, *others), args.timeout)
    first, rest = results[0], results[1:]
    out = summary(list(results))
    out["late"] = sum(
        1 for r in rest if not r.first or (first.first_chunk and r.first > first.first_chunk)
    )
    return out


async def mode_idle(args: argparse.Namespace) -> dict[str, Any]:
    """Open idle streams (each waits for its first event), report, close on stdin. With
    `--task`, each stream is another subscriber of that one task (SubscribeToTask)."""
    limit = asyncio.Semaphore(200)
    protocols: list[SseProtocol] = []
    results: list[Result] = []

    async def open_one() -> None:
        async with limit:
            result = Result()
            opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            protocol = await sse_open(
                *(
                    subscribe_request(args.kind, args.url, args.task)
                    if args.task
                    else stream_request(args.kind, args.url, args.spec)
                ),
                result,
                on_open=lambda _: opened.done() or opened.set_result(None),  # type: ignore[func-returns-value]
            )
            protocols.append(protocol)
            results.append(result)
            await asyncio.wait([opened, protocol.done], return_when=asyncio.FIRST_COMPLETED)

    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(args.streams))), args.timeout)
    opened_count = sum(1 for r in results if r.events and not r.error)
    print(
        orjson.dumps({"open": opened_count, "seconds": time.monotonic() - started}).decode(),
        flush=True,
    )
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), args.timeout)
    for protocol in protocols:
        if protocol.transport is not None:
            protocol.transport.close()
    return {"open": opened_count, "errors": sorted({r.error for r in results if r.error})[:5]}


async def mode_waiting(args: argparse.Namespace) -> dict[str, Any]:
    """Leave `--streams` tasks waiting for input (SendMessage returns once the agent asks),
    report, then wait for a line on stdin: the tasks hold no call and no stream."""
    limit = asyncio.Semaphore(50)
    done = 0
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=args.timeout) as client:

        async def one() -> None:
            nonlocal done
            async with limit:
                body = request_body("SendMessage", send_params(args.spec))
                headers = {"Content-Type": "application/json", "A2A-Version": "1.0"}
                reply = await client.post(args.url, content=body, headers=headers)
                state = reply.json()["result"]["task"]["status"]["state"]
                done += state == "TASK_STATE_INPUT_REQUIRED"

        await asyncio.gather(*(one() for _ in range(args.streams)))
    print(orjson.dumps({"open": done, "seconds": time.monotonic() - started}).decode(), flush=True)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), args.timeout)
    return {"open": done}


MODES = {
    "stream": mode_stream,
    "serial": mode_serial,
    "fanout": mode_fanout,
    "idle": mode_idle,
    "waiting": mode_waiting,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="A bench client.")
    parser.add_argument("kind", choices=["sse", "rest", "grpc", "a2a-grpc"])
    parser.add_argument("mode", choices=list(MODES))
    parser.add_argument("--url", required=True, help="SSE: the JSON-RPC URL; grpc: host:port")
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--spec", default=Spec().text())
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--task", default="", help="idle: subscribe to this task instead")
    args = parser.parse_args()
    raise_nofile()
    coro = MODES[args.mode](args)
    if args.kind in ("sse", "rest"):  # grpc.aio runs on asyncio's own loop
        try:
            import uvloop

            result = uvloop.run(coro)
        except ImportError:
            result = asyncio.run(coro)
    else:
        result = asyncio.run(coro)
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
