"""The A2A v1.0 JSON-RPC methods, on top of the task store and the bridge.

A method returns either a JSON result or an `EventStream` (what to send on SSE: events to
send first, then the task's log from a seq on). Framing and wire versions are the caller's
business (bindings/, and http/state.py for SSE), so every version shares these semantics.

Ownership: a task is visible only through the agent that runs it and to the principal that
created it; anything else is TaskNotFound, indistinguishable from a task that never existed.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.trace import Span

from gateway.agents.upstream import Upstream
from gateway.bindings.jsonrpc.envelope import RequestId
from gateway.core import errors, extensions, media, params, request_errors, resume
from gateway.core.bridge import Bridge, Caller
from gateway.core.events import Event
from gateway.core.subscribers import Subscribers
from gateway.core.task import TaskRecord
from gateway.http import card
from gateway.push.methods import PushMethods
from gateway.stores.contract import EventsExpired, Store, TaskQuery
from generated import task_service_pb2 as pb


@dataclass(frozen=True, slots=True)
class Call:
    """One JSON-RPC call, with what the gateway knows about where it came from."""

    id: RequestId
    params: dict[str, Any]
    upstream: Upstream
    caller: Caller
    last_event_id: str | None = None
    task_hint: str | None = None  # a client-proposed task id (early A2A), see early.py
    extensions: tuple[str, ...] = ()  # asked for in A2A-Extensions (extensions.parse)
    base_url: str = ""  # the gateway's base URL and the agent's endpoint as the caller
    agent_url: str = ""  # reached them (GetExtendedAgentCard builds its card with them)
    activated: list[str] = field(default_factory=list)  # filled by the method: the answer's
    # A2A-Extensions header (the extensions the agent activated for this turn)


@dataclass(slots=True)
class EventStream:
    """An SSE answer: `head` first, then the log of `task_id` after seq `after`.

    A stream with `task_id` None sends `head` only (a direct message reply). `release` gives
    back the stream's subscriber slot; whoever sends the stream calls it when it ends.

    `until_terminal` False (a turn's stream: SendStreamingMessage, v0.3 resubscribe): the
    stream ends after the first final event, terminal or interrupted. True (a subscription,
    v1.0 3.1.6 / 9.4.6): it follows the task through interruptions and later turns and ends
    only after a terminal status.
    `span`: with tracing on, the stream's span (a child of its request's): whoever sends the
    stream ends it with what it sent (`tracing.end_stream`), else its release does.
    """

    task_id: str | None
    after: int
    head: list[Event] = field(default_factory=list)
    release: Callable[[], None] | None = None
    until_terminal: bool = False
    span: Span | None = None


Result = dict[str, Any] | EventStream
Handler = Callable[[Call], Awaitable[Result]]


class Methods:
    """The v1.0 method table."""

    def __init__(
        self,
        store: Store,
        bridge: Bridge,
        subscribers: Subscribers,
        push: PushMethods | None = None,
    ) -> None:
        self.store = store
        self.bridge = bridge
        self.subscribers = subscribers
        self.extended_cards: Handler | None = None  # set by the HTTP app (http/cards.py)
        self.push = push  # None: push notifications are off (-32003)
        self._snapshots: weakref.WeakValueDictionary[str, Event] = weakref.WeakValueDictionary()
        self.table: dict[str, Handler] = {
            "SendMessage": self.send_message,
            "SendStreamingMessage": self.send_streaming_message,
            "GetTask": self.get_task,
            "ListTasks": self.list_tasks,
            "CancelTask": self.cancel_task,
            "SubscribeToTask": self.subscribe_to_task,
            "CreateTaskPushNotificationConfig": self.create_push_config,
            "GetTaskPushNotificationConfig": self.get_push_config,
            "ListTaskPushNotificationConfigs": self.list_push_configs,
            "DeleteTaskPushNotificationConfig": self.delete_push_config,
            "GetExtendedAgentCard": self.extended_card,
        }

    @staticmethod
    def visible(record: TaskRecord, call: Call) -> bool:
        return record.owner == call.caller.principal and record.agent == call.upstream.name

    async def load(self, task_id: str, call: Call) -> TaskRecord:
        record = await self.store.get(task_id)
        if record is None or not self.visible(record, call):
            raise errors.task_not_found(task_id)
        return record

    async def check_request(self, message: params.MessageIn, call: Call) -> tuple[str, ...]:
        """-32005 for a part whose media type the agent's card does not accept, -32008 for a
        required extension not asked for; the extensions to pass to the agent."""
        try:
            description = await call.upstream.describe()
        except errors.A2AError:
            return call.extensions  # the card is unknown; the agent has the last word
        requested = extensions.requested(description, call.extensions)
        self.check_content(message, description, call.upstream)
        return requested

    @staticmethod
    def check_content(
        message: params.MessageIn, description: pb.AgentDescription, upstream: Upstream
    ) -> None:
        """-32005 for a part whose media type the agent's card does not accept."""
        accepted = card.input_modes(description, upstream.spec.card_overrides)
        for index, part in enumerate(message.parts):
            media_type = media.of_part(part)
            if not media.accepts(accepted, media_type):
                raise errors.content_type_not_supported(
                    media_type, accepted, field=f"message.parts[{index}]"
                )

    async def _start(self, call: Call) -> tuple[params.SendMessageParams, Any]:
        request = params.parse(params.SendMessageParams, call.params)
        config = request.configuration
        push = config.task_push_notification_config if config is not None else None
        if push is not None and self.push is None:
            raise errors.push_not_supported()
        requested = await self.check_request(request.message, call)
        if call.task_hint and not request.message.task_id:
            known = await self.store.get(call.task_hint)
            if known is not None and self.visible(known, call):
                request.message.task_id = known.id
        inline = None
        if push is not None and self.push is not None:
            if request.message.task_id:
                await self.load(request.message.task_id, call)  # not-found before the URL
            inline = await self.push.inline(push, request.message.task_id)
        message = request.message.to_json()
        record: TaskRecord | None = None
        if request.message.task_id:
            record = await self.load(request.message.task_id, call)
            if request.message.context_id and request.message.context_id != record.context_id:
                raise request_errors.invalid_params(
                    [("message.contextId", "does not match the context of the task")]
                )
            if record.terminal:
                raise errors.unsupported_operation(
                    f"Task {record.id} is {record.state} and accepts no more messages"
                )
            if not record.interrupted or self.bridge.is_running(record.id):
                raise errors.unsupported_operation(
                    f"Task {record.id} is still running; send the next message when it asks "
                    "for input"
                )
        started = await self.bridge.start(
            call.upstream,
            message=message,
            caller=call.caller,
            record=record,
            metadata=request.metadata,
            extensions=requested,
        )
        call.activated.extend(started.activated)
        if inline is not None and self.push is not None and started.record is not None:
            await self.push.register(inline, started.record.id, started.first_seq - 1)
        return request, started

    async def send_message(self, call: Call) -> Result:
        request, started = await self._start(call)
        if started.record is None:
            return {"message": started.message}
        record: TaskRecord = started.record
        config = request.configuration
        if config is None or not config.return_immediately:
            await self._wait_final(record, started.first_seq)
            record = await self.store.get(record.id) or record  # as logged (another writer?)
        history_length = config.history_length if config else None
        return {"task": record.to_json(history_length=history_length)}

    async def _wait_final(self, record: TaskRecord, after: int) -> None:
        """Wait until the turn reaches a terminal or interrupted state."""
        while True:
            try:
                async for batch in self.store.follow(record.id, after):
                    if any(e.final for e in batch):
                        return
                    after = batch[-1].seq
                return  # the task was deleted
            except EventsExpired:
                after = record.last_seq

    async def send_streaming_message(self, call: Call) -> Result:
        _, started = await self._start(call)
        if started.record is None:
            return EventStream(None, 0, head=[Event(0, {"message": started.message}, True)])
        task_id = started.record.id
        release = self.subscribers.acquire(task_id, force=True)
        return EventStream(task_id, started.first_seq - 1, release=release)

    async def get_task(self, call: Call) -> Result:
        request = params.parse(params.GetTaskParams, call.params)
        record = await self.load(request.id, call)
        return record.to_json(history_length=request.history_length)

    async def list_tasks(self, call: Call) -> Result:
        request = params.parse(params.ListTasksParams, call.params)
        query = TaskQuery(
            owner=call.caller.principal,
            agent=call.upstream.name,
            context_id=request.context_id,
            state=request.status,
            updated_after=request.updated_after(),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        try:
            page = await self.store.query(query)
        except ValueError as exc:
            raise request_errors.invalid_params([("pageToken", str(exc))]) from None
        return {
            "tasks": [
                r.to_json(
                    history_length=request.history_length,
                    include_artifacts=request.include_artifacts,
                )
                for r in page.tasks
            ],
            "nextPageToken": page.next_page_token,
            "pageSize": request.page_size,
            "totalSize": page.total_size,
        }

    async def cancel_task(self, call: Call) -> Result:
        request = params.parse(params.TaskIdParams, call.params)
        record = await self.load(request.id, call)
        if record.terminal:
            raise errors.task_not_cancelable(record.id, record.state)
        await self.bridge.cancel(record)
        record = await self.load(record.id, call)  # the outcome, wherever it was written
        if record.state != "TASK_STATE_CANCELED":
            raise errors.task_not_cancelable(record.id, record.state)
        return record.to_json()

    async def subscribe_to_task(self, call: Call) -> Result:
        request = params.parse(params.TaskIdParams, call.params)
        record = await self.load(request.id, call)
        return await self.subscription(record, call.last_event_id)

    async def task_events(self, call: Call, task_id: str) -> EventStream:
        """The browser events endpoint: a subscription where a finished task is no error."""
        record = await self.load(task_id, call)
        return await self.subscription(record, call.last_event_id, finished_snapshot=True)

    async def subscription(
        self, record: TaskRecord, last_event_id: str | None, *, finished_snapshot: bool = False
    ) -> EventStream:
        """What a subscriber gets; shared by every version's subscribe method and by the
        browser events endpoint, so they cannot drift apart.

        Without `last_event_id`: the current Task, then live events (A2A); a terminal task is
        UnsupportedOperation unless `finished_snapshot`. With it (the resume extension): every
        event after that id, then live. Refused before the stream starts: an id that is not a
        number or is beyond the last event (-32602 naming Last-Event-ID), one older than the
        log retains (-32603 EVENTS_EXPIRED), the last event of a terminal task (-32004
        NOTHING_TO_REPLAY), a task with its maximum of subscribers (-32603 TOO_MANY_SUBSCRIBERS).

        The stream follows the task, not the turn (`EventStream.until_terminal`): through an
        INPUT_REQUIRED / AUTH_REQUIRED interruption and the next turn, until a terminal state.
        A binding that resumes a turn's stream instead (v0.3 `tasks/resubscribe`) clears it.
        """
        if last_event_id is None:
            if record.terminal and not finished_snapshot:
                raise errors.unsupported_operation(
                    f"Task {record.id} is {record.state}; a finished task cannot be subscribed "
                    f"to (send {resume.HEADER} to replay its retained events)"
                )
            stream = self.snapshot_stream(record)
        else:
            after = resume.parse_event_id(last_event_id)
            bounds = await self.store.bounds(record.id)
            if bounds is None:
                raise errors.task_not_found(record.id)
            oldest, last = bounds
            if after > last:
                raise request_errors.invalid_params(
                    [
                        (
                            resume.HEADER,
                            f"{after} is beyond the last event of task {record.id} ({last})",
                        )
                    ]
                )
            if after < oldest - 1:
                raise errors.events_expired(record.id, oldest, after)
            if after == last and record.terminal:
                raise errors.nothing_to_replay(record.id, record.state, last)
            stream = EventStream(record.id, after)
        stream.until_terminal = True
        stream.release = self.subscribers.acquire(record.id)
        return stream

    def snapshot_stream(self, record: TaskRecord) -> EventStream:
        """The current Task first (with the id of the last event it covers), then live events.

        Subscribers that join at the same event share one snapshot (and its encodings), held
        only as long as one of their streams holds it: 1,000 viewers of a task cost one copy."""
        shared = self._snapshots.get(record.id)
        if shared is not None and shared.seq == record.last_seq:
            return EventStream(record.id, record.last_seq, head=[shared])
        body = {"task": orjson.loads(orjson.dumps(record.to_json()))}
        head = Event(record.last_seq, body, record.terminal or record.interrupted)
        self._snapshots[record.id] = head
        return EventStream(record.id, record.last_seq, head=[head])

    def _push(self) -> PushMethods:
        if self.push is None:
            raise errors.push_not_supported()
        return self.push

    async def create_push_config(self, call: Call) -> Result:
        return await self._push().create(call.params, lambda task_id: self.load(task_id, call))

    async def get_push_config(self, call: Call) -> Result:
        return await self._push().get(call.params, lambda task_id: self.load(task_id, call))

    async def list_push_configs(self, call: Call) -> Result:
        return await self._push().list(call.params, lambda task_id: self.load(task_id, call))

    async def delete_push_config(self, call: Call) -> Result:
        return await self._push().delete(call.params, lambda task_id: self.load(task_id, call))

    async def extended_card(self, call: Call) -> Result:
        """The authenticated extended card (3.1.11) where configured; else -32004, since the
        card does not declare `capabilities.extendedAgentCard` (v0.3 answers -32007, see
        bindings/jsonrpc/v03.py). Every call here is authenticated: configuring an extended
        card requires auth (settings.py), and auth guards every method call."""
        if not call.upstream.spec.extended_card or self.extended_cards is None:
            raise errors.unsupported_operation(
                "This agent does not support an authenticated extended agent card"
            )
        return await self.extended_cards(call)
