"""`TaskService`: the gRPC servicer that runs a handler once per task turn.

Contract of `Run`, on top of the rules in protos/task_service.proto:

- The handler gets a `TaskContext` and streams events through it.
- Returning without a final status sends COMPLETED, except when the first turn's
  only event was one direct `reply` ("message instead of a task", see
  `TaskContext.replied_directly`): then the call just ends.
- An exception ends the call with gRPC status INTERNAL and details
  ``"<ExceptionType>: <message>"``; the traceback is logged.
- Client cancellation: `ctx.cancelled` is set and the handler's task is cancelled by
  grpc.aio; `asyncio.CancelledError` propagates and nothing more is sent.
- Tracing (tracing.py): the call's trace context is current while the handler runs, and
  with tracing on the call is one span, ended with the final state and gRPC status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc
from grpc import aio

from agent_runtime import tracing
from agent_runtime.context import TaskContext
from agent_runtime.info import AgentInfo
from generated import task_service_pb2 as pb
from generated import task_service_pb2_grpc as pb_grpc

Handler = Callable[[TaskContext], Awaitable[None]]

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["TaskService"].full_name

logger = logging.getLogger("agent_runtime")


class TaskService(pb_grpc.TaskServiceServicer):
    """Serves `handler` for `Run` and `info` for `Describe`."""

    def __init__(self, handler: Handler, *, info: AgentInfo) -> None:
        self._handler = handler
        self._info = info

    def __repr__(self) -> str:
        return f"<TaskService agent={self._info.name!r}>"

    # grpc.aio accepts a coroutine that streams with `context.write`; the generated
    # base class only knows generators, hence the override ignore.
    async def Run(  # type: ignore[override]
        self,
        request: pb.RunRequest,
        context: aio.ServicerContext[pb.RunRequest, pb.AgentEvent],
    ) -> None:
        ctx = TaskContext(request, context.write)

        def on_done(done: aio.ServicerContext[pb.RunRequest, pb.AgentEvent]) -> None:
            if done.cancelled():
                ctx.cancelled.set()

        context.add_done_callback(on_done)  # type: ignore[arg-type]
        parent = tracing.parent_of(context.invocation_metadata())
        span = tracing.start_run(
            parent,
            agent=self._info.name,
            task_id=request.task_id,
            context_id=request.context_id,
            first_turn=not request.history,
        )
        token = tracing.enter(parent, span)
        status = "OK"
        try:
            await self._turn(ctx, request, context)
        except BaseException as exc:  # the abort of a failed handler, or a cancellation
            status = "CANCELLED" if isinstance(exc, asyncio.CancelledError) else "INTERNAL"
            raise
        finally:
            final = ctx.final_state
            state = None if final is None else pb.TaskState.Name(final)
            tracing.end_run(span, state=state, events=ctx.events, grpc_status=status)
            tracing.leave(token)

    async def _turn(
        self,
        ctx: TaskContext,
        request: pb.RunRequest,
        context: aio.ServicerContext[pb.RunRequest, pb.AgentEvent],
    ) -> None:
        try:
            await self._handler(ctx)
        except asyncio.CancelledError:
            ctx.cancelled.set()
            raise
        except Exception as exc:
            logger.exception("handler failed on task %s", request.task_id)
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
        if ctx.final_state is None and not ctx.replied_directly:
            await ctx.complete()

    async def Describe(
        self,
        request: pb.DescribeRequest,
        context: aio.ServicerContext[pb.DescribeRequest, pb.AgentDescription],
    ) -> pb.AgentDescription:
        return self._info.to_proto()
