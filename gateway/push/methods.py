"""The push config methods of the v1.0 table, and the inline config of SendMessage.

Each method first loads the task through the table's own ownership check (`load`): a task of
another principal or agent is -32001 TaskNotFound, as for tasks. Errors:

- the URL refused by the SSRF guard, a malformed URL or params: -32602 naming the field
  (`url`, or `configuration.taskPushNotificationConfig.url` inline);
- more than `max_configs_per_task` configs: -32602 on `id`, reason TOO_MANY_PUSH_CONFIGS;
- an unknown config id on Get: -32001 TASK_NOT_FOUND (the spec's error for a missing config)
  with `configId` in its metadata; Delete of an unknown id succeeds (idempotent, 3.1.10).

Where delivery starts: an inline config gets every event of the turn it starts (from the
turn's first event; for a new task that is event 1, the Task). A config created on an
existing task starts with the current Task (a snapshot with the id of the last event it
covers), then every later event, as SubscribeToTask does. Either way the config is active
until the task's terminal event is acknowledged.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.core import errors, params, request_errors
from gateway.core.task import TaskRecord
from gateway.push.configs import ConfigIn, ConfigRef, CreateParams, Cursor, ListParams, PushConfig
from gateway.push.deliveries import Deliveries
from gateway.push.guard import Guard, Refused
from gateway.push.keys import Keys
from gateway.push.settings import PushSettings
from gateway.push.state import PushState, TooMany

INLINE = "configuration.taskPushNotificationConfig"
Load = Callable[[str], Awaitable[TaskRecord]]


def not_found(task_id: str, config_id: str) -> errors.A2AError:
    return errors.A2AError(
        errors.TASK_NOT_FOUND,
        f"Push notification config {config_id!r} not found for task {task_id}",
        reason="TASK_NOT_FOUND",  # what SDKs map to TaskNotFoundError; metadata says which
        metadata={"taskId": task_id, "configId": config_id},
    )


def too_many(limit: int, field: str) -> errors.A2AError:
    error = request_errors.invalid_params(
        [(field, f"the task already has its maximum of {limit} push notification configs")]
    )
    error.reason = "TOO_MANY_PUSH_CONFIGS"
    error.metadata["limit"] = str(limit)
    return error


class PushMethods:
    def __init__(
        self,
        settings: PushSettings,
        state: PushState,
        deliveries: Deliveries,
        guard: Guard,
        keys: Keys | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.deliveries = deliveries
        self.guard = guard
        self.keys = keys  # the JWKS, when requests are signed

    def start(self) -> None:
        """Start the background work (needs the running loop)."""
        self.deliveries.start()
        if self.keys is not None:
            self.keys.start()

    def __repr__(self) -> str:
        return f"<PushMethods {self.deliveries!r}>"

    async def check_url(self, url: str, field: str) -> None:
        try:
            await self.guard.resolve(url)
        except Refused as exc:
            raise request_errors.invalid_params([(field, f"the webhook URL {exc}")]) from None

    # --- inline (SendMessage) -------------------------------------------------------------

    async def inline(self, raw: dict[str, Any] | None, task_id: str | None) -> ConfigIn | None:
        """Validate an inline config before the turn starts (nothing is stored yet)."""
        if raw is None:
            return None
        given = params.parse(ConfigIn, raw, prefix=INLINE)
        await self.check_url(given.url, f"{INLINE}.url")
        if task_id is not None:
            count = await self.state.count(task_id)
            known = given.id is not None and await self.state.get(task_id, given.id) is not None
            if count >= self.settings.max_configs_per_task and not known:
                raise too_many(self.settings.max_configs_per_task, f"{INLINE}.id")
        return given

    async def register(self, given: ConfigIn, task_id: str, after: int) -> None:
        """Store an inline config once its turn has started; deliver from after `after`."""
        config = PushConfig.of(task_id, given.id or str(uuid.uuid4()), given)
        try:
            cursor = await self.state.put(
                config, Cursor(after), limit=self.settings.max_configs_per_task
            )
        except TooMany as exc:
            raise too_many(exc.limit, f"{INLINE}.id") from None
        await self.deliveries.begin(config, cursor)

    # --- the four methods -----------------------------------------------------------------

    async def create(self, raw: dict[str, Any], load: Load) -> dict[str, Any]:
        request = params.parse(CreateParams, raw)
        record = await load(request.task_id)
        await self.check_url(request.url, "url")
        config = PushConfig.of(record.id, request.id or str(uuid.uuid4()), request)
        fresh = Cursor(record.last_seq, snapshot=True)
        try:
            cursor = await self.state.put(config, fresh, limit=self.settings.max_configs_per_task)
        except TooMany as exc:
            raise too_many(exc.limit, "id") from None
        await self.deliveries.begin(config, cursor)
        return config.to_json(cursor)

    async def get(self, raw: dict[str, Any], load: Load) -> dict[str, Any]:
        request = params.parse(ConfigRef, raw)
        record = await load(request.task_id)
        found = await self.state.get(record.id, request.id)
        if found is None:
            raise not_found(record.id, request.id)
        config, cursor = found
        return config.to_json(cursor)

    async def list(self, raw: dict[str, Any], load: Load) -> dict[str, Any]:
        request = params.parse(ListParams, raw)
        record = await load(request.task_id)
        found = sorted(await self.state.configs(record.id), key=lambda item: item[0].id)
        return {"configs": [c.to_json(k) for c, k in found], "nextPageToken": ""}

    async def delete(self, raw: dict[str, Any], load: Load) -> dict[str, Any]:
        request = params.parse(ConfigRef, raw)
        record = await load(request.task_id)
        await self.deliveries.stop(record.id, request.id)
        await self.state.delete(record.id, request.id)
        return {}

    async def close(self) -> None:
        if self.keys is not None:
            await self.keys.close()
        await self.deliveries.close()
        await self.state.close()
