"""The official a2a-sdk server streaming the bench workload (the comparison).

Its own FastAPI app (`add_a2a_routes_to_fastapi`, JSON-RPC at `/`), the SDK's
default request handler and in-memory task store, and an AgentExecutor that emits
exactly the events of bench/agent.py with `TaskUpdater`. Served by the same
uvicorn configuration as the gateway (uvloop + httptools when installed).

    python -m bench.sdk_server [--port N]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvicorn
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import (
    add_a2a_routes_to_fastapi,
    create_agent_card_routes,
    create_jsonrpc_routes,
)
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    Part,
    Task,
    TaskState,
    TaskStatus,
)
from fastapi import FastAPI

from bench.procs import listening, raise_nofile, run_fast, server_options
from bench.workload import ARTIFACT_ID, Spec, chunk_text, pace


class LoadExecutor(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        spec = Spec.parse(context.get_user_input())
        task_id, context_id = context.task_id or "", context.context_id or ""
        if context.current_task is None and context.message is not None:
            await event_queue.enqueue_event(
                Task(
                    id=task_id,
                    context_id=context_id,
                    status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                    history=[context.message],
                )
            )
        updater = TaskUpdater(event_queue, task_id, context_id)
        await updater.start_work()
        if spec.hold > 0:
            await asyncio.sleep(spec.hold)
            await updater.complete()
            return
        if spec.delay > 0:
            await asyncio.sleep(spec.delay)
        start = time.monotonic()
        for index in range(spec.events):
            wait = pace(start, index, spec.rate)
            if wait:
                await asyncio.sleep(wait)
            await updater.add_artifact(
                [Part(text=chunk_text(spec.size), media_type="text/plain")],
                artifact_id=ARTIFACT_ID,
                append=index > 0,
                last_chunk=index == spec.events - 1,
            )
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.cancel()


def create_app(url: str) -> FastAPI:
    card = AgentCard(
        name="load",
        description="Streams the bench workload.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
    )
    handler = DefaultRequestHandler(
        agent_executor=LoadExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    app = FastAPI(docs_url=None, redoc_url=None)
    add_a2a_routes_to_fastapi(
        app,
        agent_card_routes=create_agent_card_routes(card),
        jsonrpc_routes=create_jsonrpc_routes(handler, rpc_url="/"),
    )
    return app


async def serve(port: int) -> None:
    sock = listening(port)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        create_app(url + "/"), log_level="warning", access_log=False, **server_options()
    )
    print(f"SDK LISTENING {url}", flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    raise_nofile()
    run_fast(serve(args.port))


if __name__ == "__main__":
    main()
