"""Drives a gateway with the official a2a-sdk 0.3 client; run under .venv-a2a03's Python.

    python tests/sdk03/driver.py URL stream TEXT
    python tests/sdk03/driver.py URL stream-cancel TEXT   (cancels after the 2nd event)
    python tests/sdk03/driver.py URL stream-to TASK_ID    (a message naming that task)
    python tests/sdk03/driver.py URL get TASK_ID
    python tests/sdk03/driver.py URL resubscribe TASK_ID
    python tests/sdk03/driver.py URL push "TASK_ID WEBHOOK_URL"   (set, then get, the config)

Prints one JSON line per thing the SDK handed back, as it arrives: {"event": ...},
{"task": ...}, {"message": ...} (the SDK's pydantic objects dumped as v0.3 JSON) or
{"error": {code, message}} (a JSON-RPC error it raised), then
{"wire": [[JSON-RPC method, A2A-Version header or null], ...]}. Not a pytest module, and not
type-checked with the project (it imports a2a-sdk 0.3, the project has 1.x).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.client.errors import A2AClientJSONRPCError
from a2a.types import (
    GetTaskPushNotificationConfigParams,
    Message,
    Part,
    PushNotificationAuthenticationInfo,
    PushNotificationConfig,
    Role,
    TaskIdParams,
    TaskPushNotificationConfig,
    TaskQueryParams,
    TextPart,
)


def emit(kind: str, value: Any) -> None:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    print(json.dumps({kind: value}), flush=True)


async def main(url: str, command: str, arg: str) -> None:
    wire: list[list[str | None]] = []

    async def record(request: httpx.Request) -> None:
        if request.method == "POST":
            wire.append([json.loads(request.content)["method"], request.headers.get("A2A-Version")])

    async with httpx.AsyncClient(timeout=20, event_hooks={"request": [record]}) as http:
        card = await A2ACardResolver(http, url).get_agent_card()
        client = ClientFactory(ClientConfig(streaming=True, httpx_client=http)).create(card)
        try:
            await run(client, command, arg)
        except A2AClientJSONRPCError as exc:  # what the SDK surfaces of a JSON-RPC error
            emit("error", {"code": exc.error.code, "message": exc.error.message})
        await client.close()
    emit("wire", wire)


async def run(client: Any, command: str, arg: str) -> None:
    if command in ("stream", "stream-cancel", "stream-to"):
        message = Message(
            message_id=str(uuid.uuid4()),
            role=Role.user,
            parts=[Part(root=TextPart(text=arg))],
            task_id=arg if command == "stream-to" else None,
        )
        seen = 0
        async for item in client.send_message(message):
            if isinstance(item, Message):
                emit("message", item)
                continue
            task, update = item
            emit("event", update if update is not None else task)
            seen += 1
            if command == "stream-cancel" and seen == 2:
                emit("task", await client.cancel_task(TaskIdParams(id=task.id)))
    elif command == "get":
        emit("task", await client.get_task(TaskQueryParams(id=arg)))
    elif command == "resubscribe":
        async for task, update in client.resubscribe(TaskIdParams(id=arg)):
            emit("event", update if update is not None else task)
    elif command == "push":
        task_id, webhook = arg.split(" ", 1)
        auth = PushNotificationAuthenticationInfo(schemes=["Bearer"], credentials="c03")
        config = PushNotificationConfig(url=webhook, token="t03", authentication=auth)
        request = TaskPushNotificationConfig(task_id=task_id, push_notification_config=config)
        emit("config", await client.set_task_callback(request))
        emit(
            "config",
            await client.get_task_callback(GetTaskPushNotificationConfigParams(id=task_id)),
        )
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
