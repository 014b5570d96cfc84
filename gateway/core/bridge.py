"""The bridge: runs task turns as gRPC Run calls and pumps their events into the store.

Lifecycle of a turn:

1. `start()` opens the Run call and waits for the agent's first event. An error before it is
   raised to the caller as an A2AError (nothing is recorded). A direct reply (a message as the
   only event of a new task) is returned as such, and no task is created.
2. Otherwise the turn's first event (the Task, SUBMITTED) is logged and a pump task takes the
   call over. The pump never waits for a subscriber: it appends to the log, followers read.
3. The pump ends at the agent's final status (terminal or interrupted). A final status is
   logged only once the call has ended cleanly (within `final_grace` seconds); an event after
   it fails the task with InvalidAgentResponse instead, so a published terminal state is
   never changed. A gRPC error mid-stream, a broken rule, or a call that ends without a
   final status fails the task with the reason in the status message and `metadata.error`.
4. `cancel()` cancels the call and records CANCELED. Client disconnects do not cancel turns.
5. At shutdown, `wait(grace)` lets running turns finish, then `close()` cancels the rest
   (recorded FAILED with reason GATEWAY_SHUTDOWN).

A principal may run at most `max_tasks_per_principal` turns at once (0 = unlimited); a turn
holds its slot from `start()` until its pump ends. Every Run call is counted in the metrics
by its final gRPC status, and every turn's duration by its final state.

With a shared store (`replicas` set, see replicas.py) a turn first claims the task's lease, so
one turn of a task runs at a time across replicas, and releases it when the pump ends. A pump
whose append is refused (StoreConflict: another replica has written the task's end, e.g. after
this replica lost its lease) stops its call and writes nothing more. A pump that cannot reach
the store (STORE_UNAVAILABLE, after the store's own retries) stops its call and fails the task
from the stored record, so the task's log and record stay a consistent prefix; if even that
cannot be written, the lease lapses and a surviving replica fails the task (REPLICA_LOST).
Little is buffered. With the memory store the pump does not read the agent's next event before
the last one is logged. With a shared store it reads at most READ_AHEAD events ahead of the
store, and each write logs every event already read (one script per batch, in order, all or
none; a sparse agent's events are written one by one at once, with no wait added); beyond
that gRPC flow control holds the agent back.

Tracing (ops/tracing.py): each Run call is a `turn` span, a child of the request that
started it and current in its pump; its context goes to the agent in the call's metadata.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc

from gateway.agents.upstream import Upstream
from gateway.agents.upstream import event as event_of
from gateway.core import convert, errors
from gateway.core.task import (
    CANCELED,
    FAILED,
    FINAL,
    SUBMITTED,
    WORKING,
    TaskRecord,
    add_artifact,
    begin_turn,
    set_status,
)
from gateway.http.limits import Slots
from gateway.ops import logs, tracing
from gateway.ops.metrics import Metrics
from gateway.stores.contract import Store, StoreConflict
from gateway.stores.replicas import Replicas
from generated import task_service_pb2 as pb

if TYPE_CHECKING:
    from opentelemetry.trace import Span

AGENT_ROLE = "ROLE_AGENT"

log = logging.getLogger("a2a_gateway")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made the request, as the gateway established it. `trace`: the W3C trace context
    the binding received (`tracing.carrier()` of its headers or metadata; empty when tracing
    is off), the parent of the request's spans."""

    principal: str = "anonymous"
    request_id: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    trace: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Started:
    """The outcome of starting a turn: a task (and the seq of its first event) or a reply."""

    record: TaskRecord | None
    first_seq: int = 0
    message: dict[str, Any] | None = None
    activated: tuple[str, ...] = ()  # requested extensions the agent activated (first event)


@dataclass(frozen=True, slots=True)
class Turn:
    """A running turn, as its pump knows it: when it began (monotonic), the seq of its first
    logged event, its span (None when tracing is off)."""

    began: float
    first_seq: int
    span: Span | None = None


class _Ended:
    """A pump's done callback: the turn leaves the running ones and gives back its
    principal's slot. A slotted object, not a closure or partial (cells, argument tuple and
    keyword dict) held by every running turn (`make bench`, idle streams)."""

    __slots__ = ("bridge", "principal", "task_id")

    def __init__(self, bridge: Bridge, task_id: str, principal: str) -> None:
        self.bridge = bridge
        self.task_id = task_id
        self.principal = principal

    def __call__(self, _: object) -> None:
        self.bridge._turns.pop(self.task_id, None)
        self.bridge.slots.release(self.principal)


class _Stop(Exception):
    """The pump must fail the task with this A2A error."""

    def __init__(self, error: errors.A2AError) -> None:
        super().__init__(error.message)
        self.error = error


def _agent_message(record_id: str, context_id: str, message: pb.Message) -> dict[str, Any]:
    """Check an agent message's ids and role, fill in what the agent left empty."""
    if message.task_id and message.task_id != record_id:
        raise _Stop(errors.invalid_agent_response(f"message names task {message.task_id!r}"))
    if message.context_id and message.context_id != context_id:
        raise _Stop(errors.invalid_agent_response(f"message names context {message.context_id!r}"))
    if message.role == pb.ROLE_USER:
        raise _Stop(errors.invalid_agent_response("an agent message has role ROLE_USER"))
    if not message.parts:
        raise _Stop(errors.invalid_agent_response("a message has no parts"))
    try:
        out = convert.message_to_json(message, role=AGENT_ROLE)
    except ValueError as exc:
        raise _Stop(errors.invalid_agent_response(str(exc))) from None
    out["messageId"] = message.message_id or str(uuid.uuid4())
    out["taskId"] = record_id
    out["contextId"] = context_id
    return out


def _text_message(record: TaskRecord, text: str) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "contextId": record.context_id,
        "taskId": record.id,
        "role": AGENT_ROLE,
        "parts": [{"text": text}],
    }


def apply_event(record: TaskRecord, event: pb.AgentEvent, now: float) -> dict[str, Any]:
    """Validate one agent event against the rules, apply it to the record, return the body.

    Raises _Stop (the record unchanged) when the event breaks a rule.
    """
    kind = event.WhichOneof("event")
    if kind == "status":
        status = event.status
        state = convert.state_name(status.state)
        if state not in FINAL and state != WORKING:
            raise _Stop(errors.invalid_agent_response(f"an agent cannot set state {state}"))
        progress: int | None = None
        if status.HasField("progress"):
            if not 0 <= status.progress <= 100:
                raise _Stop(
                    errors.invalid_agent_response(f"progress {status.progress} is not 0-100")
                )
            progress = status.progress
        message = (
            _agent_message(record.id, record.context_id, status.message)
            if status.HasField("message")
            else None
        )
        metadata = convert.struct_to_dict(status.metadata) if status.HasField("metadata") else None
        return set_status(record, state, message, now, metadata=metadata, progress=progress)
    if kind == "artifact":
        update = event.artifact
        try:
            artifact = convert.artifact_to_json(update.artifact)
        except ValueError as exc:
            raise _Stop(errors.invalid_agent_response(str(exc))) from None
        artifact_id = artifact["artifactId"]
        if update.append:
            if artifact_id not in record.artifacts:
                raise _Stop(
                    errors.invalid_agent_response(f"append to unknown artifact {artifact_id!r}")
                )
        else:
            if not artifact["parts"]:
                raise _Stop(errors.invalid_agent_response("a new artifact has no parts"))
            if not artifact_id:
                artifact["artifactId"] = str(uuid.uuid4())
        metadata = convert.struct_to_dict(update.metadata) if update.HasField("metadata") else None
        return add_artifact(
            record,
            artifact,
            now,
            append=update.append,
            last_chunk=update.last_chunk,
            metadata=metadata,
        )
    if kind == "message":
        message = _agent_message(record.id, record.context_id, event.message)
        state = WORKING if record.state == SUBMITTED else record.state
        return set_status(record, state, message, now)
    raise _Stop(errors.invalid_agent_response("an AgentEvent with no event set"))


FINAL_CODES = frozenset(pb.TaskState.Value(name) for name in FINAL)


def _is_final(event: pb.AgentEvent) -> bool:
    return event.HasField("status") and event.status.state in FINAL_CODES


READ_AHEAD = 64  # events read from an agent before the store has logged them (shared store)


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
        if event is grpc.aio.EOF or _is_final(event):
            return


async def _read_within(call: Any, seconds: float) -> Any:
    """The call's next message, or TimeoutError after `seconds` (asyncio.timeout rather than
    wait_for, which on Python 3.11 can swallow a cancellation arriving at the same time)."""
    async with asyncio.timeout(seconds):
        return event_of(await call.read())


class Bridge:
    """Starts, pumps and cancels task turns. One pump per running turn."""

    def __init__(
        self,
        store: Store,
        *,
        final_grace: float = 1.0,
        max_running: int = 1000,
        metrics: Metrics | None = None,
        max_tasks_per_principal: int = 0,
        replicas: Replicas | None = None,
    ) -> None:
        self.store = store
        self.final_grace = final_grace
        self.max_running = max_running
        self.metrics = metrics or Metrics()
        self.slots = Slots(max_tasks_per_principal)
        self.replicas = replicas
        self._turns: dict[str, asyncio.Task[None]] = {}
        self._starting: set[str] = set()
        self._canceling: set[str] = set()
        self._lost: set[str] = set()
        self._unended: set[str] = set()  # turns whose end could not be written

    def start_replicas(self) -> None:
        """Start the lease heartbeat, sweeper and cancel listener (needs the running loop)."""
        if self.replicas is not None:
            self.replicas.start(lambda: [*self._turns, *self._starting], self.stop_turn)

    def stop_turn(self, task_id: str, why: str) -> None:
        """Another replica asks: "cancel" (log CANCELED) or "lost" (log nothing)."""
        pump = self._turns.get(task_id)
        if pump is None:
            return
        (self._canceling if why == "cancel" else self._lost).add(task_id)
        pump.cancel()

    def __repr__(self) -> str:
        return f"<Bridge running={len(self._turns)} starting={len(self._starting)}>"

    @property
    def running(self) -> int:
        return len(self._turns)

    def is_running(self, task_id: str) -> bool:
        return task_id in self._turns or task_id in self._starting

    async def start(
        self,
        upstream: Upstream,
        *,
        message: dict[str, Any],
        caller: Caller,
        record: TaskRecord | None = None,
        metadata: dict[str, Any] | None = None,
        extensions: tuple[str, ...] = (),
    ) -> Started:
        """Start a turn: a new task (record None) or the next turn of an interrupted one.

        Refused with -32603 TOO_MANY_TASKS when `max_running` turns are running or starting.
        """
        task_id = record.id if record else str(uuid.uuid4())
        new_task = record is None
        context_id = record.context_id if record else message.get("contextId") or str(uuid.uuid4())
        if task_id in self._starting or task_id in self._turns:
            raise errors.unsupported_operation(f"Task {task_id} already has a turn running")
        if len(self._turns) + len(self._starting) >= self.max_running:
            raise errors.too_many_tasks(self.max_running)
        principal = caller.principal
        if not self.slots.acquire(principal):
            self.metrics.limited.labels("tasks").inc()
            raise errors.too_many("tasks", self.slots.limit)
        handed_over = False
        began = time.monotonic()
        user_message = {**message, "taskId": task_id, "contextId": context_id}
        request = pb.RunRequest(
            task_id=task_id,
            context_id=context_id,
            message=convert.message_from_json(user_message),
            history=[convert.message_from_json(m) for m in record.messages()] if record else [],
            artifacts=(
                [convert.artifact_from_json(a) for a in record.artifacts.values()] if record else []
            ),
            caller=pb.Caller(
                principal=caller.principal, request_id=caller.request_id, headers=caller.headers
            ),
            requested_extensions=extensions,
        )
        if metadata:
            request.metadata.CopyFrom(convert.dict_to_struct(metadata))
        grpc_metadata = (
            *caller.headers.items(),
            ("x-a2a-principal", caller.principal),
            ("x-request-id", caller.request_id),
        )
        self._starting.add(task_id)
        claimed = False
        try:
            if self.replicas is not None:
                claimed = await self.replicas.claim(task_id)
                if not claimed:
                    raise errors.unsupported_operation(f"Task {task_id} already has a turn running")
            await upstream.connect()
        except BaseException:
            self._starting.discard(task_id)
            self.slots.release(principal)
            if claimed:
                await self._release(task_id)
            raise
        # The task's id in the log context before the call's tasks and the pump copy it: they
        # then share the request's context value instead of each holding one of its own.
        logs.bind(task_id=task_id)
        span = tracing.start_turn(
            agent=upstream.name,
            target=upstream.spec.target,
            task_id=task_id,
            context_id=context_id,
            first_turn=record is None,
        )
        call = upstream.run(
            request.SerializeToString(),
            timeout=upstream.deadline,
            metadata=tracing.inject(span, grpc_metadata),
            wait_for_ready=False,
        )
        del request
        status, direct = "OK", False
        try:
            first = event_of(await call.read())
            tracing.first_event(span, (time.monotonic() - began) * 1000)
            if first is grpc.aio.EOF:
                raise errors.invalid_agent_response("the agent ended the call without any event")
            assert isinstance(first, pb.AgentEvent)
            activated = tuple(u for u in extensions if u in first.activated_extensions)
            if record is None and first.WhichOneof("event") == "message":
                reply = await self._direct_reply(call, first, task_id, context_id)
                self.metrics.upstream_call(upstream.name, "Run", "OK")
                direct = True
                return Started(None, message=reply, activated=activated)
            now = time.time()
            try:
                if record is None:
                    record = TaskRecord(
                        id=task_id,
                        context_id=context_id,
                        agent=upstream.name,
                        owner=caller.principal,
                    )
                    logged = await self.store.create(record, begin_turn(record, user_message, now))
                else:
                    logged = await self.store.append(record, begin_turn(record, user_message, now))
            except StoreConflict:
                raise errors.unsupported_operation(
                    f"Task {task_id} changed while its turn was starting; send the message again"
                ) from None
            turn = Turn(began, logged.seq, span)
            pump = asyncio.create_task(self._pump(upstream, record, call, first, turn))
            self._turns[task_id] = pump
            claimed = False  # the pump releases it
            handed_over = True  # and the principal's slot
            pump.add_done_callback(_Ended(self, task_id, principal))
            return Started(record, first_seq=logged.seq, activated=activated)
        except grpc.aio.AioRpcError as exc:
            call.cancel()  # still open when the error is ours (upstream.event): a message refused
            status = exc.code().name
            self.metrics.upstream_call(upstream.name, "Run", exc.code().name)
            raise errors.from_grpc(exc, upstream.name, hint=upstream.hint(exc)) from None
        except BaseException:
            status = "CANCELLED"
            call.cancel()
            raise
        finally:
            self._starting.discard(task_id)
            if not handed_over:
                self.slots.release(principal)
                if new_task:
                    logs.bind(task_id=None)  # no task was made (a direct reply, an error)
                tracing.end_turn(
                    span, state=None, grpc_status=status, events=int(direct), direct=direct
                )
            if claimed:
                await self._release(task_id)

    async def _direct_reply(
        self, call: Any, first: pb.AgentEvent, task_id: str, context_id: str
    ) -> dict[str, Any]:
        """The reply to a new task's first turn; no task exists, so it names none."""
        try:
            reply = _agent_message(task_id, context_id, first.message)
        except _Stop as stop:
            raise stop.error from None
        del reply["taskId"]
        try:
            following = await _read_within(call, self.final_grace)
        except TimeoutError:
            following = grpc.aio.EOF
        call.cancel()
        if following is not grpc.aio.EOF:
            raise errors.invalid_agent_response("a direct reply must be the only event of its call")
        return reply

    async def _release(self, task_id: str) -> None:
        if self.replicas is not None:
            await asyncio.shield(self.replicas.release(task_id))

    async def _pump(
        self, upstream: Upstream, record: TaskRecord, call: Any, event: Any, turn: Turn
    ) -> None:
        logs.bind(task_id=record.id)  # this task's own context copy
        tracing.activate(turn.span)  # likewise: the pump's lines carry the turn's span
        began = turn.began
        code = "OK"
        try:
            code = await self._run(upstream, record, call, event)
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except StoreConflict as exc:
            log.warning("task %s: stopped, another writer ended it (%s)", record.id, exc)
        except errors.A2AError as exc:  # STORE_UNAVAILABLE
            call.cancel()
            log.warning("task %s: cannot log its events: %s", record.id, exc.message)
            await self._fail_stored(record, exc)
        finally:
            if not call.done():
                call.cancel()  # a call that ended is left alone: no stray RST_STREAM
            self._lost.discard(record.id)
            if record.id in self._unended:
                self._unended.discard(record.id)  # keep the lease: it lapses (see _record_end)
            else:
                await self._release(record.id)
            self.metrics.upstream_call(upstream.name, "Run", code)
            seconds = time.monotonic() - began
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
                    stored, state, _text_message(stored, text), time.time(), metadata=metadata
                )
                await self.store.append(stored, body)
                return
            except StoreConflict:
                continue
            except errors.A2AError as exc:
                log.warning("task %s: could not record its end (%s)", record.id, exc.message)
                break
        self._unended.add(record.id)

    async def _run(self, upstream: Upstream, record: TaskRecord, call: Any, event: Any) -> str:
        """Pump the call to its end; the gRPC status name it ended with."""
        reader: asyncio.Task[None] | None = None
        try:
            if self.replicas is None:  # the memory store: an append does not wait
                while True:
                    if event is grpc.aio.EOF or _is_final(event):
                        break
                    await self.store.append(record, apply_event(record, event, time.time()))
                    event = None  # not kept while the call waits, maybe for minutes
                    event = event_of(await call.read())
            else:
                ahead: asyncio.Queue[Any] = asyncio.Queue(READ_AHEAD)
                ahead.put_nowait(event)
                if event is not grpc.aio.EOF and not _is_final(event):
                    reader = asyncio.create_task(_read_ahead(call, ahead))
                event = await self._log_batches(record, ahead)
            if event is grpc.aio.EOF:
                raise _Stop(
                    errors.invalid_agent_response("the agent ended the turn without a final status")
                )
            await self._finish(record, call, event)
            return "OK"
        except _Stop as stop:
            await self._fail(record, stop.error)
            return "OK"
        except grpc.aio.AioRpcError as exc:
            await self._fail(record, errors.from_grpc(exc, upstream.name))
            return str(exc.code().name)
        except asyncio.CancelledError:
            if record.id in self._lost:
                raise
            if record.id in self._canceling:
                await self._record_end(record, CANCELED, "Task canceled.")
            else:
                await self._record_end(
                    record,
                    FAILED,
                    "The gateway stopped while the task was running.",
                    {"error": {"reason": "GATEWAY_SHUTDOWN"}},
                )
            raise
        finally:
            if reader is not None:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    async def _log_batches(self, record: TaskRecord, ahead: asyncio.Queue[Any]) -> Any:
        """Log the agent's events as `_read_ahead` queues them: each write takes every event
        already waiting (at most READ_AHEAD: one script, one round trip), so a fast agent
        costs one write per batch while a sparse one is written event by event at once.
        Returns the final event or EOF (not logged); raises what the read raised, after
        logging the events before it."""
        while True:
            batch = [await ahead.get()]
            while len(batch) < READ_AHEAD and not ahead.empty():
                batch.append(ahead.get_nowait())
            items: list[tuple[dict[str, Any], float]] = []
            end: Any = None
            try:
                for event in batch:
                    if isinstance(event, BaseException) or event is grpc.aio.EOF:
                        end = event
                        break
                    if _is_final(event):
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
            following = await _read_within(call, self.final_grace)
        except TimeoutError:
            following = grpc.aio.EOF  # the agent lingers; we stop listening
        except grpc.aio.AioRpcError:
            following = grpc.aio.EOF  # ended with an error after its final word: keep it
        if following is not grpc.aio.EOF:
            raise _Stop(errors.invalid_agent_response("an event followed the final status"))
        await self.store.append(record, apply_event(record, final, time.time()))

    async def _fail(self, record: TaskRecord, error: errors.A2AError) -> None:
        body = set_status(
            record,
            FAILED,
            _text_message(record, error.message),
            time.time(),
            metadata={
                "error": {"code": error.code, "reason": error.reason, "message": error.message}
            },
        )
        await self.store.append(record, body)

    async def cancel(self, record: TaskRecord) -> None:
        """Cancel a running or interrupted task and record CANCELED (exactly once).

        The turn runs here (its pump is cancelled and logs CANCELED), on another replica
        (asked through replicas.py, awaited), or nowhere: then CANCELED is logged here, by an
        append that a shared store refuses while a replica holds the task's lease. The caller
        reads the outcome from the store (the task may have finished first).
        """
        pump = self._turns.get(record.id)
        if pump is not None:
            self._canceling.add(record.id)
            try:
                pump.cancel()
                await asyncio.wait([pump])
            finally:
                self._canceling.discard(record.id)
            return
        for _ in range(3):
            remote = self.replicas is not None and await self.replicas.leased(record.id)
            if remote and self.replicas is not None and await self.replicas.cancel_remote(record):
                return
            if record.terminal:
                return
            body = set_status(
                record, CANCELED, _text_message(record, "Task canceled."), time.time()
            )
            try:
                await self.store.append(record, body, unowned=self.replicas is not None)
                return
            except StoreConflict:
                fresh = await self.store.get(record.id)
                if fresh is None:
                    return
                record = fresh

    async def wait(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the running turns to end by themselves."""
        pumps = list(self._turns.values())
        if pumps and timeout > 0:
            await asyncio.wait(pumps, timeout=timeout)

    async def close(self) -> None:
        """Stop every running turn (used at shutdown), then the replica's background work."""
        pumps = list(self._turns.values())
        for pump in pumps:
            pump.cancel()
        if pumps:
            await asyncio.wait(pumps)
        if self.replicas is not None:
            await self.replicas.close()
