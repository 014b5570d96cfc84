"""The bridge: runs task turns as gRPC Run calls, each pumped into the store by pump.py.

Lifecycle of a turn:

1. `start()` opens the Run call and waits for the agent's first event. An error before it is
   raised to the caller as an A2AError (nothing is recorded). A direct reply (a message as the
   only event of a new task) is returned as such, and no task is created.
2. Otherwise the turn's first event (the Task, SUBMITTED) is logged and a pump task takes the
   call over. The pump never waits for a subscriber: it appends to the log, followers read.
3. The pump ends at the agent's final status (terminal or interrupted), or fails the task:
   pump.py states when a final status is logged, what fails a task, and what is buffered.
4. `cancel()` cancels the call and records CANCELED. Client disconnects do not cancel turns.
5. At shutdown, `wait(grace)` lets running turns finish, then `close()` cancels the rest
   (recorded FAILED with reason GATEWAY_SHUTDOWN).

A principal may run at most `max_tasks_per_principal` turns at once (0 = unlimited), counted
across every replica with a shared store (stores/quotas.py); a turn holds its slot from
`start()` until its pump ends. Every Run call is counted in the metrics
by its final gRPC status, and every turn's duration by its final state.

With a shared store (`replicas` set, see replicas.py) a turn holds the task's lease, so one
turn of a task runs at a time across replicas, and releases it when the pump ends: the next
turn of an existing task claims it before calling the agent; a new task (whose id this
replica just made, so no other can claim it) takes it with its first event, in the same
script (`Replicas.create`: one round trip on Redis instead of four).

Tracing (ops/tracing.py): each Run call is a `turn` span, a child of the request that
started it and current in its pump; its context goes to the agent in the call's metadata.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc

from gateway.agents.upstream import Upstream
from gateway.agents.upstream import event as event_of
from gateway.core import convert, errors
from gateway.core.agent_events import BrokenRule, agent_message, text_message
from gateway.core.pump import Pump, Turn, read_within
from gateway.core.task import CANCELED, TaskRecord, begin_turn, set_status
from gateway.http.limits import Slots
from gateway.ops import logs, tracing
from gateway.ops.metrics import Metrics
from gateway.stores.contract import Store, StoreConflict
from gateway.stores.replicas import Replicas
from generated import task_service_pb2 as pb


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


class _Ended:
    """A pump's done callback: the turn leaves the running ones and gives back its
    principal's slot. A slotted object, not a closure or partial (cells, argument tuple and
    keyword dict) held by every running turn (`make bench`, idle streams)."""

    __slots__ = ("bridge", "holder", "principal", "task_id")

    def __init__(self, bridge: Bridge, task_id: str, principal: str, holder: str | None) -> None:
        self.bridge = bridge
        self.task_id = task_id
        self.principal = principal
        self.holder = holder

    def __call__(self, _: object) -> None:
        self.bridge._turns.pop(self.task_id, None)
        self.bridge._release_slot(self.principal, self.holder)


class Bridge:
    """Starts and cancels task turns. One pump task per running turn (`self.pump`)."""

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
        self.pump = Pump(store, final_grace=final_grace, metrics=self.metrics, replicas=replicas)
        self._turns: dict[str, asyncio.Task[None]] = {}
        self._starting: set[str] = set()
        self._unleased: set[str] = set()  # new tasks starting, their lease not taken yet

    def start_replicas(self) -> None:
        """Start the lease heartbeat, sweeper and cancel listener (needs the running loop)."""
        if self.replicas is not None:
            self.replicas.start(self._leased, self.stop_turn)

    def _leased(self) -> list[str]:
        """The tasks whose lease this replica holds (or is taking): the heartbeat renews them."""
        return [*self._turns, *(self._starting - self._unleased)]

    def stop_turn(self, task_id: str, why: str) -> None:
        """Another replica asks: "cancel" (log CANCELED) or "lost" (log nothing)."""
        pump = self._turns.get(task_id)
        if pump is None:
            return
        (self.pump.canceling if why == "cancel" else self.pump.lost).add(task_id)
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
        holder = await self._take_slot(principal)
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
        if new_task and self.replicas is not None:
            self._unleased.add(task_id)  # its lease comes with its first event (create)
        claimed = False
        try:
            if self.replicas is not None and not new_task:
                claimed = await self.replicas.claim(task_id)
                if not claimed:
                    raise errors.unsupported_operation(f"Task {task_id} already has a turn running")
            await upstream.connect()
        except BaseException:
            self._starting.discard(task_id)
            self._unleased.discard(task_id)
            self._release_slot(principal, holder)
            if claimed:
                await self.pump.release(task_id)
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
                    body = begin_turn(record, user_message, now)
                    if self.replicas is not None:
                        claimed = True  # released below if the create fails
                        self._unleased.discard(task_id)
                        logged = await self.replicas.create(record, body)
                    else:
                        logged = await self.store.create(record, body)
                else:
                    logged = await self.store.append(record, begin_turn(record, user_message, now))
            except StoreConflict:
                raise errors.unsupported_operation(
                    f"Task {task_id} changed while its turn was starting; send the message again"
                ) from None
            turn = Turn(began, logged.seq, span)
            pump = asyncio.create_task(self.pump.run(upstream, record, call, first, turn))
            self._turns[task_id] = pump
            claimed = False  # the pump releases it
            handed_over = True  # and the principal's slot
            pump.add_done_callback(_Ended(self, task_id, principal, holder))
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
            self._unleased.discard(task_id)
            if not handed_over:
                self._release_slot(principal, holder)
                if new_task:
                    logs.bind(task_id=None)  # no task was made (a direct reply, an error)
                tracing.end_turn(
                    span, state=None, grpc_status=status, events=int(direct), direct=direct
                )
            if claimed:
                await self.pump.release(task_id)

    async def _take_slot(self, principal: str) -> str | None:
        """A place among the principal's running turns, or -32603 TOO_MANY_TASKS: counted
        across replicas with a shared store (stores/quotas.py; returns its holder name), else
        in this process (returns None)."""
        quotas = self.replicas.quotas if self.replicas is not None else None
        limit = self.slots.limit
        if quotas is None or not limit:
            if not self.slots.acquire(principal):
                self.metrics.limited.labels("tasks").inc()
                raise errors.too_many("tasks", limit)
            return None
        holder = quotas.stream_holder()
        if not await quotas.take(quotas.turns_key(principal), holder, limit):
            self.metrics.limited.labels("tasks").inc()
            raise errors.too_many("tasks", limit)
        return holder

    def _release_slot(self, principal: str, holder: str | None) -> None:
        """Give back what `_take_slot` took."""
        if holder is None:
            self.slots.release(principal)
        elif self.replicas is not None:
            quotas = self.replicas.quotas
            quotas.give_back(quotas.turns_key(principal), holder)

    async def _direct_reply(
        self, call: Any, first: pb.AgentEvent, task_id: str, context_id: str
    ) -> dict[str, Any]:
        """The reply to a new task's first turn; no task exists, so it names none."""
        try:
            reply = agent_message(task_id, context_id, first.message)
        except BrokenRule as stop:
            raise stop.error from None
        del reply["taskId"]
        try:
            following = await read_within(call, self.final_grace)
        except TimeoutError:
            following = grpc.aio.EOF
        call.cancel()
        if following is not grpc.aio.EOF:
            raise errors.invalid_agent_response("a direct reply must be the only event of its call")
        return reply

    async def cancel(self, record: TaskRecord) -> None:
        """Cancel a running or interrupted task and record CANCELED (exactly once).

        The turn runs here (its pump is cancelled and logs CANCELED), on another replica
        (asked through replicas.py, awaited), or nowhere: then CANCELED is logged here, by an
        append that a shared store refuses while a replica holds the task's lease. The caller
        reads the outcome from the store (the task may have finished first).
        """
        pump = self._turns.get(record.id)
        if pump is not None:
            self.pump.canceling.add(record.id)
            try:
                pump.cancel()
                await asyncio.wait([pump])
            finally:
                self.pump.canceling.discard(record.id)
            return
        for _ in range(3):
            remote = self.replicas is not None and await self.replicas.leased(record.id)
            if remote and self.replicas is not None and await self.replicas.cancel_remote(record):
                return
            if record.terminal:
                return
            body = set_status(record, CANCELED, text_message(record, "Task canceled."), time.time())
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
