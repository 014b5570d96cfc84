"""Workflow agent: an agent that calls agents, through the gateway, with a2a_client.

For one request it sends the text to `document-analysis` and to `echo` at once, through the
gateway (never to their gRPC ports: it is an A2A client like any other), and:

- reports ONE progress: each child's progress weighted (document-analysis 80, echo 20; a
  child without progress counts 0 until it finishes), with the child's status as the text;
- merges their artifacts into its own as they stream, chunk by chunk, named
  "<agent>: <artifact>" (a direct reply becomes the artifact "<agent>: reply");
- fails when a child fails (saying which and why), and cancels the other child;
- when it is cancelled, cancels its children's tasks (CancelTask through the gateway) before
  it ends, so nothing keeps running for nobody;
- carries the trace on: each child call is a span of its own (`ctx.span`) and a2a_client
  sends its trace context, so with tracing on one trace shows all three agents.

    python -m examples.agents.workflow --gateway http://127.0.0.1:8000 [--port N]

The gateway URL comes from `--gateway`, else $A2A_GATEWAY_URL, and is read per request, so
the agent may start before the gateway does. $A2A_GATEWAY_TOKEN, if set, is sent as a bearer
token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
from collections.abc import Sequence

from a2a_client import (
    A2AClient,
    A2AClientError,
    A2AError,
    ArtifactEvent,
    MessageEvent,
    StatusEvent,
    TaskEvent,
)
from agent_runtime import AgentInfo, AgentSkill, TaskContext, run
from agent_runtime.content import new_id

INFO = AgentInfo(
    name="workflow",
    description="Runs document-analysis and echo on your text through the gateway: one "
    "combined progress, their artifacts merged.",
    version="1.0.0",
    skills=[
        AgentSkill(
            id="analyse-and-echo",
            name="Analyse and echo",
            description="Calls the document-analysis and echo agents on the same text.",
            tags=["workflow", "multi-agent"],
            examples=["A2A lets agents talk. Agents can call agents."],
        )
    ],
    default_input_modes=["text/plain"],
    default_output_modes=["text/plain"],
)

WEIGHTS = {"document-analysis": 80, "echo": 20}
CANCEL_TIMEOUT = 5.0


class ChildFailed(Exception):
    def __init__(self, agent: str, state: str, text: str) -> None:
        super().__init__(f"{agent} {state}: {text}" if text else f"{agent} {state}")


class Progress:
    """The weighted sum of the children's progress, sent only when it changes."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.done = dict.fromkeys(WEIGHTS, 0)
        self.sent = -1
        self.lock = asyncio.Lock()

    async def update(self, agent: str, percent: int, text: str) -> None:
        async with self.lock:
            self.done[agent] = max(self.done[agent], percent)
            combined = sum(WEIGHTS[a] * p for a, p in self.done.items()) // 100
            if combined != self.sent:
                self.sent = combined
                await self.ctx.progress(combined, text)


async def call_child(ctx: TaskContext, gateway: str, agent: str, progress: Progress) -> None:
    """Stream one child task into ours; cancel it if we are cancelled."""
    token = os.environ.get("A2A_GATEWAY_TOKEN")
    child_task: str | None = None
    context = new_id()  # ours to choose: finds the child's task if we are cancelled early
    ours: dict[str, str] = {}  # the child's artifact ids -> ours
    async with A2AClient(f"{gateway.rstrip('/')}/agents/{agent}/", token=token) as client:
        try:
            async for event in client.stream(ctx.text, context_id=context):
                if isinstance(event, TaskEvent):
                    child_task = event.task.id
                elif isinstance(event, StatusEvent):
                    if event.final and event.state != "completed":
                        raise ChildFailed(agent, event.state, event.message_text)
                    if event.progress is not None:
                        await progress.update(
                            agent, event.progress, f"{agent}: {event.message_text}"
                        )
                elif isinstance(event, ArtifactEvent):
                    await ctx.artifact(
                        event.text,
                        name=f"{agent}: {event.name}",
                        artifact_id=ours.setdefault(event.artifact_id, new_id()),
                        append=event.append,
                        last_chunk=event.last_chunk,
                    )
                elif isinstance(event, MessageEvent):
                    await ctx.artifact(event.message.text, name=f"{agent}: reply")
        except asyncio.CancelledError:
            with contextlib.suppress(A2AClientError, TimeoutError):
                async with asyncio.timeout(CANCEL_TIMEOUT):
                    await cancel_child(client, child_task, context)
            raise
    await progress.update(agent, 100, f"{agent}: done")


async def child_span(ctx: TaskContext, gateway: str, agent: str, progress: Progress) -> None:
    """`call_child` in a span of its own (`ctx.span`): with tracing on, the child's gateway
    request, turn and agent spans hang under it, so one trace shows all three agents."""
    with ctx.span(f"call {agent}", **{"a2a.agent": agent}):
        await call_child(ctx, gateway, agent, progress)


async def cancel_child(client: A2AClient, task_id: str | None, context_id: str) -> None:
    """Cancel the child's task; one not named yet (cancelled while the child's stream was
    starting) is found by the context id we gave it, once the gateway has created it."""
    if task_id is None:
        deadline = asyncio.get_running_loop().time() + CANCEL_TIMEOUT
        while task_id is None:
            page = await client.list(context_id=context_id, page_size=1)
            if page.tasks:
                task_id = page.tasks[0].id
            elif asyncio.get_running_loop().time() > deadline:
                return
            else:
                await asyncio.sleep(0.05)
    with contextlib.suppress(A2AError):  # already finished: nothing to cancel
        await client.cancel(task_id)


async def workflow(ctx: TaskContext, *, gateway: str | None = None) -> None:
    """The handler."""
    base = gateway or os.environ.get("A2A_GATEWAY_URL")
    if not base:
        await ctx.fail("No gateway URL: start the agent with --gateway URL or $A2A_GATEWAY_URL.")
        return
    if not ctx.text.strip():
        await ctx.reject("Send the text of a document.")
        return
    progress = Progress(ctx)
    await ctx.progress(0, f"Calling {' and '.join(WEIGHTS)}")
    failed: list[str] = []
    try:
        async with asyncio.TaskGroup() as group:
            for agent in WEIGHTS:
                group.create_task(child_span(ctx, base, agent, progress))
    except* (ChildFailed, A2AClientError) as failures:
        failed = [str(e) for e in failures.exceptions]
    if failed:
        await ctx.fail("; ".join(failed))
    else:
        await ctx.complete(f"Done: {' and '.join(WEIGHTS)} answered.")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=INFO.description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--gateway",
        default=os.environ.get("A2A_GATEWAY_URL"),
        help="the gateway's base URL, e.g. http://127.0.0.1:8000 (default: $A2A_GATEWAY_URL)",
    )
    args = parser.parse_args(argv)
    handler = functools.partial(workflow, gateway=args.gateway)
    run(handler, info=INFO, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
