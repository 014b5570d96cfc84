"""The one entry every binding calls: a v1.0 method name and a `Call` in, a result or an
`EventStream` out, with the same limits, metrics and logs whatever the binding.

A binding parses its wire shape into a `Call` (v1.0 params, the caller, the agent), calls
`Dispatcher.call`, and encodes what comes back: a JSON result, an `EventStream` (frame the
stream model of core/stream.py), or an `errors.A2AError` (map it with its binding's row of
the error table). Anything else raised below is logged once here and becomes -32603.

Tracing (ops/tracing.py): with it on, each call is a `request` span, a child of the trace
context the binding put on `Caller.trace`, current while the method runs (so a turn it starts
is its child, and its log lines carry its ids); a stream it returns carries a span of its
own span (`EventStream.span`, a child of the request's; the binding ends it). Off, the cost
is one bool.

Streams: a streaming method holds one of the principal's stream slots (`limits.streams`);
`Dispatcher.opened` wraps the stream's `release` so whoever sends the stream gives back the
slot and the task's subscriber slot together, exactly once, when it ends.

Params nested deeper than `params.MAX_DEPTH` are -32602 here, before any method runs, for
every binding.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from gateway.core import error_table, errors, params, request_errors
from gateway.core.methods import Call, EventStream, Methods, Result
from gateway.ops import logs, tracing
from gateway.ops.metrics import Metrics

log = logging.getLogger("a2a_gateway")

STREAMING = frozenset({"SendStreamingMessage", "SubscribeToTask"})


class Slots(Protocol):
    limit: int

    def acquire(self, principal: str) -> bool: ...

    def release(self, principal: str) -> None: ...


class Dispatcher:
    """Runs one method call for any binding (see the module docstring)."""

    def __init__(
        self, methods: Methods, metrics: Metrics, streams: Slots, draining: asyncio.Event
    ) -> None:
        self.methods = methods
        self.metrics = metrics
        self.streams = streams
        self.draining = draining

    def __repr__(self) -> str:
        return f"<Dispatcher methods={len(self.methods.table)} draining={self.draining.is_set()}>"

    async def call(
        self,
        method: str,
        call: Call,
        *,
        binding: str,
        label: str | None = None,
        version: str | None = None,
    ) -> Result:
        """Run v1.0 `method`. `label` is the name the client used (metrics and logs), e.g.
        `message/send` on v0.3 or `POST message:send` on REST; it defaults to `method`.
        `version`: the A2A version of the wire ("1.0", "0.3"), for the trace."""
        if tracing.on:
            return await self._traced(method, call, binding, label or method, version)
        return await self._call(method, call, binding, label or method)

    async def _traced(
        self, method: str, call: Call, binding: str, label: str, version: str | None
    ) -> Result:
        started = tracing.start_request(
            method,
            label,
            binding=binding,
            version=version,
            agent=call.upstream.name,
            principal=call.caller.principal,
            parent=call.caller.trace,
        )
        if started is None:  # turned off meanwhile
            return await self._call(method, call, binding, label)
        span, context = started
        token = tracing.enter(context)
        try:
            result = await self._call(method, call, binding, label)
            if isinstance(result, EventStream):
                result.span = tracing.start_stream(
                    context,
                    method=method,
                    binding=binding,
                    task_id=result.task_id,
                    wire_name=label,
                )
        except errors.A2AError as exc:
            tracing.end_request(
                span, binding=binding, code=exc.code, reason=exc.reason, **outcome(binding, exc)
            )
            raise
        except BaseException:  # cancelled: the client or the server went away
            tracing.end_request(
                span, binding=binding, code=errors.INTERNAL_ERROR, reason="CANCELLED"
            )
            raise
        finally:
            tracing.deactivate(token)
        task_id = result.task_id if isinstance(result, EventStream) else task_of(result)
        tracing.end_request(span, binding=binding, code=0, task_id=task_id, **outcome(binding))
        return result

    async def _call(self, method: str, call: Call, binding: str, label: str) -> Result:
        received = time.monotonic()
        principal = call.caller.principal
        if self.draining.is_set():
            error = errors.shutting_down()
            self.finished(binding, label, error.code, received)
            raise error
        handler = self.methods.table.get(method)
        slot = False
        try:
            if handler is None:
                raise request_errors.method_not_found(method)
            params.check_depth(call.params)
            if method in STREAMING:
                if not self.streams.acquire(principal):
                    self.metrics.limited.labels("streams").inc()
                    raise errors.too_many("streams", self.streams.limit)
                slot = True
            result = await handler(call)
        except errors.A2AError as exc:
            if slot:
                self.streams.release(principal)
            self.finished(binding, label, exc.code, received)
            raise
        except Exception:
            if slot:
                self.streams.release(principal)
            log.exception("internal error in %s", label)
            self.finished(binding, label, errors.INTERNAL_ERROR, received)
            raise errors.internal_error("Internal error") from None
        if isinstance(result, dict) and isinstance(result.get("task"), dict):
            logs.bind(task_id=result["task"].get("id"))
        self.finished(binding, label, 0, received)
        if isinstance(result, EventStream):
            if not slot:
                self.streams.acquire(principal)  # counted, though it started unchecked
            self.opened(result, principal)
        elif slot:
            self.streams.release(principal)
        return result

    def opened(self, stream: EventStream, principal: str) -> None:
        """Make `stream.release` give back the principal's stream slot too (once)."""
        stream.release = StreamRelease(self, stream, principal)

    def finished(self, binding: str, method: str, code: int, received: float) -> None:
        """Count and log one request (ids and codes only, never contents)."""
        self.metrics.request(method, code, binding=binding)
        duration_ms = round((time.monotonic() - received) * 1000, 1)
        extra = {"method": self.metrics.method_label(method), "code": code, "binding": binding}
        log.info(
            "%s %s code=%d",
            binding,
            extra["method"],
            code,
            extra={**extra, "duration_ms": duration_ms},
        )


Release = Callable[[], None]


class StreamRelease:
    """An open stream's release (`EventStream.release`): its task's subscriber slot (the
    release it had before), then the principal's stream slot, then its span if nobody ended
    it; the first call only. A slotted object rather than a closure and its cells held by
    every open stream (`make bench`, idle streams)."""

    __slots__ = ("dispatcher", "principal", "stream", "task_release")

    def __init__(self, dispatcher: Dispatcher, stream: EventStream, principal: str) -> None:
        self.dispatcher: Dispatcher | None = dispatcher
        self.stream = stream
        self.principal = principal
        self.task_release = stream.release

    def __repr__(self) -> str:
        return f"<StreamRelease {self.principal} {'held' if self.dispatcher else 'released'}>"

    def __call__(self) -> None:
        dispatcher, self.dispatcher = self.dispatcher, None
        if dispatcher is None:
            return
        if self.task_release is not None:
            self.task_release()
        dispatcher.streams.release(self.principal)
        tracing.end_stream_unsaid(self.stream.span)


def outcome(binding: str, error: errors.A2AError | None = None) -> dict[str, Any]:
    """The binding's status of a call's outcome, for its trace: gRPC for `grpc`, HTTP for the
    others (JSON-RPC answers its errors with HTTP 200), from the one error table."""
    if binding == "grpc":
        return {"grpc_status": error_table.grpc_status(error).name if error else "OK"}
    if binding == "jsonrpc" or error is None:
        return {"http_status": 200}
    return {"http_status": error_table.http_status(error)}


def task_of(result: dict[str, Any]) -> str | None:
    """The id of the task a JSON result is or holds."""
    task = result.get("task", result)
    value = task.get("id") if isinstance(task, dict) else None
    return value if isinstance(value, str) else None
