"""A test agent that does what its message says, including breaking the contract's rules.

Written against the raw generated stubs (not agent_runtime) so it can misbehave. The first
word of the user's text picks the script; see `SCRIPTS`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from generated import task_service_pb2 as pb
from generated import task_service_pb2_grpc as pb_grpc

Script = Callable[
    [pb.RunRequest, list[str], grpc.aio.ServicerContext[pb.RunRequest, pb.AgentEvent]],
    AsyncIterator[pb.AgentEvent],
]

WORKING = pb.TASK_STATE_WORKING
COMPLETED = pb.TASK_STATE_COMPLETED


def status(
    state: pb.TaskState.ValueType, text: str | None = None, progress: int | None = None
) -> pb.AgentEvent:
    update = pb.StatusUpdate(state=state)
    if text is not None:
        update.message.CopyFrom(pb.Message(role=pb.ROLE_AGENT, parts=[pb.Part(text=text)]))
    if progress is not None:
        update.progress = progress
    return pb.AgentEvent(status=update)


def chunk(artifact_id: str, text: str, *, append: bool, last: bool) -> pb.AgentEvent:
    artifact = pb.Artifact(artifact_id=artifact_id, name="out", parts=[pb.Part(text=text)])
    return pb.AgentEvent(
        artifact=pb.ArtifactUpdate(artifact=artifact, append=append, last_chunk=last)
    )


def text_of(request: pb.RunRequest) -> str:
    return "".join(p.text for p in request.message.parts if p.WhichOneof("content") == "text")


class Scripted(pb_grpc.TaskServiceServicer):
    async def Describe(
        self,
        request: pb.DescribeRequest,
        context: grpc.aio.ServicerContext[pb.DescribeRequest, pb.AgentDescription],
    ) -> pb.AgentDescription:
        return pb.AgentDescription(
            name="scripted",
            description="Test agent driven by its input",
            version="0.0.1",
            skills=[pb.Skill(id="script", name="Script", description="Runs a script")],
            extensions=[  # SCRIPTED_EXTENSIONS: a JSON list of {uri, required, ...}
                pb.Extension(**e) for e in json.loads(os.environ.get("SCRIPTED_EXTENSIONS", "[]"))
            ],
        )

    async def Run(
        self,
        request: pb.RunRequest,
        context: grpc.aio.ServicerContext[pb.RunRequest, pb.AgentEvent],
    ) -> AsyncIterator[pb.AgentEvent]:
        words = text_of(request).split()
        name = words[0] if words else "steps"
        if request.history:
            name = "answer"
        async for event in SCRIPTS[name](request, words[1:], context):
            yield event


async def steps(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    """steps [N] [DELAY_MS]: N progress events, a 3-chunk artifact, COMPLETED."""
    count = int(args[0]) if args else 4
    delay = int(args[1]) / 1000 if len(args) > 1 else 0.0
    for i in range(1, count + 1):
        yield status(WORKING, f"step {i}", progress=min(100, i * 100 // count))
        if delay:
            await asyncio.sleep(delay)
    for i in range(3):
        yield chunk("a1", f"part{i};", append=i > 0, last=i == 2)
    yield status(COMPLETED, "done")


async def flood(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    """flood N SIZE [DELAY_MS]: WORKING, N artifact chunks of SIZE bytes each, COMPLETED."""
    count, size = int(args[0]), int(args[1])
    delay = int(args[2]) / 1000 if len(args) > 2 else 0.0
    yield status(WORKING, "flooding")
    text = "x" * size
    for i in range(count):
        yield chunk("flood", text, append=i > 0, last=i == count - 1)
        if delay:
            await asyncio.sleep(delay)
    yield status(COMPLETED, "flooded")


async def hang(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    """hang [FILE]: WORKING, then nothing until cancelled; writes "cancelled" to FILE then."""
    yield status(WORKING, "working forever")
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        if args:
            with open(args[0], "w") as marker:  # noqa: ASYNC230 (a test's marker, once)
                marker.write("cancelled")
        raise


async def ask(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    """ask [DELAY_MS]: (with a delay: WORKING, the delay, then) INPUT_REQUIRED."""
    if args:
        yield status(WORKING, "thinking")
        await asyncio.sleep(int(args[0]) / 1000)
    yield status(pb.TASK_STATE_INPUT_REQUIRED, "say more")


async def extensions(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    """extensions: activates every requested extension; COMPLETED with the requested URIs
    (JSON) as its text."""
    event = status(COMPLETED, json.dumps(list(request.requested_extensions)))
    event.activated_extensions.extend(request.requested_extensions)
    yield event


async def reject(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    """reject: the agent declines the task (REJECTED, a terminal state)."""
    yield status(pb.TASK_STATE_REJECTED, "not my kind of task")


async def auth_required(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    """auth-required: the agent needs the user's credentials (AUTH_REQUIRED, interrupted)."""
    yield status(pb.TASK_STATE_AUTH_REQUIRED, "sign in first")


async def answer(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    yield status(WORKING, f"history has {len(request.history)} messages")
    yield status(COMPLETED, f"answered: {text_of(request)}")


async def reply(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    yield pb.AgentEvent(message=pb.Message(parts=[pb.Part(text="direct " + " ".join(args))]))


async def reply_with_ids(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    """reply-with-ids: a direct reply naming the request's task and context (as agent_runtime
    does)."""
    message = pb.Message(
        task_id=request.task_id, context_id=request.context_id, parts=[pb.Part(text="ids")]
    )
    yield pb.AgentEvent(message=message)


async def reply_twice(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    yield pb.AgentEvent(message=pb.Message(parts=[pb.Part(text="one")]))
    yield pb.AgentEvent(message=pb.Message(parts=[pb.Part(text="two")]))


async def wrong_task_id(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    yield status(WORKING, "fine")
    event = status(WORKING, "wrong")
    event.status.message.task_id = "someone-elses-task"
    yield event
    yield status(COMPLETED)


async def after_final(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    yield status(WORKING, "fine")
    yield status(COMPLETED, "done")
    yield chunk("late", "too late", append=False, last=True)


async def error_midstream(
    request: pb.RunRequest,
    args: list[str],
    context: grpc.aio.ServicerContext[pb.RunRequest, pb.AgentEvent],
) -> AsyncIterator[pb.AgentEvent]:
    yield status(WORKING, "about to break")
    await context.abort(grpc.StatusCode.INTERNAL, "the model crashed")


async def error_first(
    request: pb.RunRequest,
    args: list[str],
    context: grpc.aio.ServicerContext[pb.RunRequest, pb.AgentEvent],
) -> AsyncIterator[pb.AgentEvent]:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "this document is not valid")
    yield status(WORKING)  # pragma: no cover


async def no_final(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    yield status(WORKING, "and then nothing")


async def nothing(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    return
    yield  # pragma: no cover


async def bad_progress(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    yield status(WORKING, "too much", progress=150)


async def append_unknown(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    yield status(WORKING)
    yield chunk("never-started", "x", append=True, last=True)


async def echo_caller(
    request: pb.RunRequest,
    args: list[str],
    context: grpc.aio.ServicerContext[pb.RunRequest, pb.AgentEvent],
) -> AsyncIterator[pb.AgentEvent]:
    metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    text = f"principal={request.caller.principal} header={metadata.get('x-a2a-principal')}"
    yield status(COMPLETED, text)


async def whoami(
    request: pb.RunRequest, args: list[str], context: object
) -> AsyncIterator[pb.AgentEvent]:
    """whoami: COMPLETED with this process's pid."""
    yield status(COMPLETED, f"pid={os.getpid()}")


async def headers(
    request: pb.RunRequest,
    args: list[str],
    context: grpc.aio.ServicerContext[pb.RunRequest, pb.AgentEvent],
) -> AsyncIterator[pb.AgentEvent]:
    """headers: COMPLETED with JSON {"metadata": {...}, "caller": {...}} as the agent saw them."""
    metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    seen = {"metadata": metadata, "caller": dict(request.caller.headers)}
    yield status(COMPLETED, json.dumps(seen))


SCRIPTS: dict[str, Callable[..., AsyncIterator[pb.AgentEvent]]] = {
    "steps": steps,
    "flood": flood,
    "hang": hang,
    "ask": ask,
    "reject": reject,
    "auth-required": auth_required,
    "answer": answer,
    "reply": reply,
    "reply-twice": reply_twice,
    "reply-with-ids": reply_with_ids,
    "wrong-task-id": wrong_task_id,
    "after-final": after_final,
    "error-midstream": error_midstream,
    "error-first": error_first,
    "no-final": no_final,
    "nothing": nothing,
    "bad-progress": bad_progress,
    "append-unknown": append_unknown,
    "caller": echo_caller,
    "whoami": whoami,
    "headers": headers,
    "extensions": extensions,
}


async def main(port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_TaskServiceServicer_to_server(Scripted(), server)
    health_servicer = (
        health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    result = health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    if asyncio.iscoroutine(result):
        await result
    print(f"AGENT scripted LISTENING 127.0.0.1:{bound}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    try:
        asyncio.run(main(parser.parse_args().port))
    except KeyboardInterrupt:
        sys.exit(0)
