"""The pump: reads a running turn's Run call to its end and logs the agent's events.

The bridge (bridge.py) hands each started turn's call to `Pump.run`, one task per turn.
The pump ends at the agent's final status (terminal or interrupted). A final status is
logged only once the call has ended cleanly (within `final_grace` seconds); an event after
it fails the task with InvalidAgentResponse instead, so a published terminal state is
never changed. A gRPC error mid-stream, a broken rule (agent_events.py), or a call that ends
without a final status fails the task with the reason in the status message and
`metadata.error`. A pump cancelled records CANCELED when the task is `canceling`, nothing
when it is `lost` (another replica holds it), else FAILED with reason GATEWAY_SHUTDOWN.

With a shared store (`replicas` set, see replicas.py) the pump releases the task's lease when
it ends. A pump whose append is refused (StoreConflict: another replica has written the
task's end, e.g. after this replica lost its lease) stops its call and writes nothing more.
A pump that cannot reach the store (STORE_UNAVAILABLE, after the store's own retries) stops
its call and fails the task from the stored record, so the task's log and record stay a
consistent prefix; if even that cannot be written, the lease lapses and a surviving replica
fails the task (REPLICA_LOST).
Little is buffered. With the memory store the pump does not read the agent's next event before
the last one is logged. With a shared store it reads at most READ_AHEAD events ahead of the
store, and each write logs every event already read (one script per batch, in order, all or
none; a write begins at most every WRITE_LINGER, 1 ms, so a fast agent's events go in
batches, while a sparse agent's events are written one by one at once, with no wait added);
beyond that gRPC flow control holds the agent back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from gateway.agents.upstream import Upstream
from gateway.agents.upstream import event as event_of
from gateway.core import errors
from gateway.core.agent_events import BrokenRule, apply_event, is_final, text_message
from gateway.core.task import CANCELED, FAILED, FINAL, TaskRecord, set_status
from gateway.ops import logs, tracing
from gateway.ops.metrics import Metrics
from gateway.stores.contract import Store, StoreConflict
from gateway.stores.replicas import Replicas
from generated import task_service_pb2 as pb

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = logging.getLogger("a2a_gateway")


@dataclass(frozen=True, slots=True)
class Turn:
    """A running turn, as its pump knows it: when it began (monotonic), the seq of its first
    logged event, its span (None when tracing is off)."""

    began: float
    first_seq: int
    span: Span | None = None


READ_AHEAD = 64  # events read from an agent before the store has logged them (shared store)
WRITE_LINGER = 0.001  # seconds: a write that would follow the previous one sooner waits


async def _read_ahead(call: Any, ahead: asyncio.Queue[Any]) -> None:
    """Read the call into `ahead` (which bounds how far: the agent then waits on gRPC flow
    control) until a final event or EOF; an error is queued as the last item."""
    while True:
        try:
            event = event_of(await call.read())
        except Exception as exc:  # an AioRpcError, for the pump to handle in order
            await ahead.put(exc)
            return
        await ahead.put(event)
        if event is grpc.aio.EOF or is_final(event):
            return


async def read_within(call: Any, seconds: float) -> Any:
    """The call's next message, or TimeoutError after `seconds` (asyncio.timeout rather than
    wait_for, which on Python 3.11 can swallow a cancellation arriving at the same time)."""
    async with asyncio.timeout(seconds):
        return event_of(await call.read())


class Pump:
    """Pumps the running turns' calls into the store, one `run` task per turn.

    Before it cancels a turn's task, the bridge marks the turn `canceling` (record CANCELED)
    or `lost` (another replica holds the task: record nothing)."""

    def __init__(
        self,
        store: Store,
        *,
        final_grace: float,
        metrics: Metrics,
        replicas: Replicas | None,
    ) -> None:
        self.store = store
        self.final_grace = final_grace
        self.metrics = metrics
        self.replicas = replicas
        self.canceling: set[str] = set()
        self.lost: set[str] = set()
        self._unended: set[str] = set()  # turns whose end could not be written

    async def release(self, task_id: str) -> None:
        if self.replicas is not None:
            await asyncio.shield(self.replicas.release(task_id))

    async def run(
        self, upstream: Upstream, record: TaskRecord, call: Any, event: Any, turn: Turn
    ) -> None:
        """One turn's pump task: the call to its end (the gRPC status it ended with), then
        the turn's lease, metrics, log line and span.

        One coroutine, not a `run` awaiting a `_pump`: an idle turn (an agent thinking for
        minutes) holds one frame here, not two (`make bench`, idle streams). The inner `try`
        records how the call ended; the outer one what the store refused, and the ending."""
        logs.bind(task_id=record.id)  # this task's own context copy
        tracing.activate(turn.span)  # likewise: the pump's lines carry the turn's span
        code = "OK"
        reader: asyncio.Task[None] | None = None
        try:
            try:
                if self.replicas is None:  # the memory store: an append does not wait
                    while event is not grpc.aio.EOF and not is_final(event):
                        await self.store.append(record, apply_event(record, event, time.time()))
                        event = None  # not kept while the call waits, maybe for minutes
                        event = event_of(await call.read())
                else:
                    ahead: asyncio.Queue[Any] = asyncio.Queue(READ_AHEAD)
                    ahead.put_nowait(event)
                    if event is not grpc.aio.EOF and not is_final(event):
                        reader = asyncio.create_task(_read_ahead(call, ahead))
                    event = await self._log_batches(record, ahead)
                if event is grpc.aio.EOF:
                    raise BrokenRule(
                        errors.invalid_agent_response(
                            "the agent ended the turn without a final status"
                        )
                    )
                await self._finish(record, call, event)
            except BrokenRule as stop:
                await self._fail(record, stop.error)
            except grpc.aio.AioRpcError as exc:
                code = str(exc.code().name)
                await self._fail(record, errors.from_grpc(exc, upstream.name))
            except asyncio.CancelledError:
                code = "CANCELLED"
                if record.id not in self.lost:
                    await self._record_cancel(record)
                raise
            finally:
                if reader is not None:
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
        except StoreConflict as exc:
            log.warning("task %s: stopped, another writer ended it (%s)", record.id, exc)
        except errors.A2AError as exc:  # STORE_UNAVAILABLE
            call.cancel()
            log.warning("task %s: cannot log its events: %s", record.id, exc.message)
            await self._fail_stored(record, exc)
        finally:
            await self._ended(upstream, record, call, turn, code)

    async def _record_cancel(self, record: TaskRecord) -> None:
        """A cancelled pump's end: CANCELED when the task is `canceling`, else FAILED with
        reason GATEWAY_SHUTDOWN (the gateway stopped)."""
        if record.id in self.canceling:
            await self._record_end(record, CANCELED, "Task canceled.")
        else:
            await self._record_end(
                record,
                FAILED,
                "The gateway stopped while the task was running.",
                {"error": {"reason": "GATEWAY_SHUTDOWN"}},
            )

    async def _ended(
        self, upstream: Upstream, record: TaskRecord, call: Any, turn: Turn, code: str
    ) -> None:
        """After a turn, however it ended: the call, the marks, the lease, metrics, log, span."""
        if not call.done():
            call.cancel()  # a call that ended is left alone: no stray RST_STREAM
        self.lost.discard(record.id)
        self.canceling.discard(record.id)  # marked by a cancel from another replica too
        if record.id in self._unended:
            self._unended.discard(record.id)  # keep the lease: it lapses (see _record_end)
        else:
            await self.release(record.id)
        self.metrics.upstream_call(upstream.name, "Run", code)
        seconds = time.monotonic() - turn.began
        self.metrics.turn_ended(record.state, seconds)
        log.info(
            "turn ended %s",
            record.state,
            extra={"state": record.state, "status": code, "duration_ms": seconds * 1000},
        )
        events = record.last_seq - turn.first_seq + 1
        tracing.end_turn(turn.span, state=record.state, grpc_status=code, events=events)

    async def _fail_stored(self, record: TaskRecord, error: errors.A2AError) -> None:
        metadata = {"error": {"code": error.code, "reason": error.reason, "message": error.message}}
        await self._record_end(record, FAILED, error.message, metadata)

    async def _record_end(
        self,
        record: TaskRecord,
        state: str,
        text: str,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Log the end of a turn that stopped mid-way, on the STORED record: an append that
        was cancelled or timed out may or may not have landed, and the local record may hold
        a change that was never logged. Nothing is written if the task already ended.

        When the end cannot be written (the store is away), the task keeps its lease: the
        pump does not release it, so it lapses and a surviving replica's sweeper fails the
        task (REPLICA_LOST) once the store is back. Releasing it would leave the task
        WORKING with nobody to end it."""
        for _ in range(3):
            try:
                stored = await self.store.get(record.id)
                if stored is None or stored.state in FINAL:
                    return
                body = set_status(
                    stored, state, text_message(stored, text), time.time(), metadata=metadata
                )
                await self.store.append(stored, body)
                return
            except StoreConflict:
                continue
            except errors.A2AError as exc:
                log.warning("task %s: could not record its end (%s)", record.id, exc.message)
                break
        self._unended.add(record.id)

    async def _log_batches(self, record: TaskRecord, ahead: asyncio.Queue[Any]) -> Any:
        """Log the agent's events as `_read_ahead` queues them: each write takes every event
        already waiting (at most READ_AHEAD: one script, one round trip). A write that would
        begin less than WRITE_LINGER after the previous one began waits until then, so a fast
        agent costs one write per batch of what came meanwhile (at most WRITE_LINGER added),
        while a sparse one's events, and an end, are written at once. The turn's first event
        was just logged (bridge.start), so the first write waits too: the events the agent sent
        with its first one (its first chunk, usually) then go in the same write, not in a
        round trip of their own. Returns the final event or EOF (not logged); raises what the
        read raised, after logging the events before it."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            batch = [await ahead.get()]
            wait = began + WRITE_LINGER - loop.time()
            if wait > 0 and isinstance(batch[0], pb.AgentEvent) and not is_final(batch[0]):
                await asyncio.sleep(wait)
            began = loop.time()
            while len(batch) < READ_AHEAD and not ahead.empty():
                batch.append(ahead.get_nowait())
            items: list[tuple[dict[str, Any], float]] = []
            end: Any = None
            try:
                for event in batch:
                    if isinstance(event, BaseException) or event is grpc.aio.EOF:
                        end = event
                        break
                    if is_final(event):
                        end = event
                        break
                    items.append((apply_event(record, event, time.time()), record.updated))
            finally:
                if len(items) == 1:
                    await self.store.append(record, items[0][0])
                elif items:
                    await self.store.append_many(record, items)
            if isinstance(end, BaseException):
                raise end
            if end is not None:
                return end

    async def _finish(self, record: TaskRecord, call: Any, final: pb.AgentEvent) -> None:
        """Log a final status once the call has ended; an event after it is a broken rule."""
        try:
            following = await read_within(call, self.final_grace)
        except TimeoutError:
            following = grpc.aio.EOF  # the agent lingers; we stop listening
        except grpc.aio.AioRpcError:
            following = grpc.aio.EOF  # ended with an error after its final word: keep it
        if following is not grpc.aio.EOF:
            raise BrokenRule(errors.invalid_agent_response("an event followed the final status"))
        await self.store.append(record, apply_event(record, final, time.time()))

    async def _fail(self, record: TaskRecord, error: errors.A2AError) -> None:
        body = set_status(
            record,
            FAILED,
            text_message(record, error.message),
            time.time(),
            metadata={
                "error": {"code": error.code, "reason": error.reason, "message": error.message}
            },
        )
        await self.store.append(record, body)
