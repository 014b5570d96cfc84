"""The official a2a-sdk 1.x client manages push configs and registers a webhook inline, against
a real gateway (push allowed to 127.0.0.1) and a real receiver."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
from a2a.client import Client, ClientConfig, create_client
from a2a.types import (
    AuthenticationInfo,
    DeleteTaskPushNotificationConfigRequest,
    GetTaskPushNotificationConfigRequest,
    ListTaskPushNotificationConfigsRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskNotFoundError,
    TaskPushNotificationConfig,
)

from tests import a2a
from tests.receiver import Receiver
from tests.servers import Process, start_gateway

pytestmark = pytest.mark.anyio

TIMEOUT = 30.0
TRANSPORTS = ["JSONRPC"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def gateway(scripted_agent: Process) -> Iterator[Process]:
    process = start_gateway(
        {"scripted": scripted_agent.address}, "--push-allow", "127.0.0.1", "--push-allow-http"
    )
    yield process
    process.stop()


@asynccontextmanager
async def connect(
    gateway: Process, transport: str, push: TaskPushNotificationConfig | None = None
) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        config = ClientConfig(
            streaming=False,
            httpx_client=http,
            supported_protocol_bindings=[transport],
            push_notification_config=push,
        )
        client = await create_client(f"{gateway.address}/agents/scripted/", config)
        try:
            yield client
        finally:
            await client.close()


def message(text: str) -> SendMessageRequest:
    return SendMessageRequest(
        message=Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)])
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_sdk_client_creates_gets_lists_and_deletes_configs(
    gateway: Process, receiver: Receiver, transport: str
) -> None:
    task = a2a.start_task(gateway.address + "/agents/scripted/", "steps 1")
    url = receiver.url(f"/ok/{uuid.uuid4().hex[:8]}")
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway, transport) as client:
            created = await client.create_task_push_notification_config(
                TaskPushNotificationConfig(
                    task_id=task["id"],
                    url=url,
                    token="tok",
                    authentication=AuthenticationInfo(scheme="Bearer", credentials="cred"),
                )
            )
            assert created.id
            assert created.task_id == task["id"]
            assert created.authentication.credentials == "cred"
            got = await client.get_task_push_notification_config(
                GetTaskPushNotificationConfigRequest(task_id=task["id"], id=created.id)
            )
            assert got.url == url
            assert got.token == "tok"
            listed = await client.list_task_push_notification_configs(
                ListTaskPushNotificationConfigsRequest(task_id=task["id"])
            )
            assert [c.id for c in listed.configs] == [created.id]
            await client.delete_task_push_notification_config(
                DeleteTaskPushNotificationConfigRequest(task_id=task["id"], id=created.id)
            )
            listed = await client.list_task_push_notification_configs(
                ListTaskPushNotificationConfigsRequest(task_id=task["id"])
            )
            assert list(listed.configs) == []
            with pytest.raises(TaskNotFoundError):
                await client.get_task_push_notification_config(
                    GetTaskPushNotificationConfigRequest(task_id=task["id"], id=created.id)
                )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_sdk_client_inline_config_receives_the_task(
    gateway: Process, receiver: Receiver, transport: str
) -> None:
    path = f"/ok/{uuid.uuid4().hex[:8]}"
    push = TaskPushNotificationConfig(url=receiver.url(path), token="inline")
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway, transport, push) as client:
            events = [event async for event in client.send_message(message("steps 2"))]
    assert events
    hits = await anyio.to_thread.run_sync(receiver.wait_terminal, path)
    assert [h.event_id for h in hits] == list(range(1, len(hits) + 1))
    assert all(h.headers["x-a2a-notification-token"] == "inline" for h in hits)
