"""The official a2a-sdk 1.x client manages push configs and registers a webhook inline, against
a real gateway (push allowed to 127.0.0.1) and a real receiver."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import grpc
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
from tests.servers import ROOT, Process, start_gateway

pytestmark = pytest.mark.anyio

TIMEOUT = 30.0
TRANSPORTS = ["JSONRPC", "HTTP+JSON", "GRPC"]  # every transport the SDK speaks


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def gateway(scripted_agent: Process) -> Iterator[Process]:
    process = start_gateway(
        {"scripted": scripted_agent.address},
        "--push-allow", "127.0.0.1", "--push-allow-http", "--grpc-port", "0",
    )  # fmt: skip
    yield process
    process.stop()


@asynccontextmanager
async def connect(
    gateway: Process, transport: str, push: TaskPushNotificationConfig | None = None
) -> AsyncIterator[Client]:
    url = f"{gateway.address}/agents/scripted/"
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        card = (await http.get(url + ".well-known/agent-card.json")).json()
        bindings = {i.get("protocolBinding") for i in card.get("supportedInterfaces", [])}
        assert transport in bindings, card  # the card lists every binding, gRPC included
        config = ClientConfig(
            streaming=False,
            httpx_client=http,
            supported_protocol_bindings=[transport],
            push_notification_config=push,
            grpc_channel_factory=grpc.aio.insecure_channel,
        )
        client = await create_client(url, config)
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


SDK03 = ROOT / ".venv-a2a03" / "bin" / "python"


@pytest.mark.skipif(not SDK03.exists(), reason=f"{SDK03} does not exist (`make a2a03`)")
def test_sdk03_client_sets_and_gets_a_config(gateway: Process, receiver: Receiver) -> None:
    task = a2a.start_task(gateway.address + "/agents/scripted/", "steps 1")
    url = receiver.url(f"/ok/{uuid.uuid4().hex[:8]}")
    driver = ROOT / "tests" / "sdk03" / "driver.py"
    argv = [str(SDK03), str(driver), f"{gateway.address}/agents/scripted/", "push"]
    result = subprocess.run(
        [*argv, f"{task['id']} {url}"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    created, got = lines[0]["config"], lines[1]["config"]
    assert created["taskId"] == task["id"]
    assert created["pushNotificationConfig"]["id"] == task["id"]
    assert got["pushNotificationConfig"]["url"] == url
    assert got["pushNotificationConfig"]["authentication"] == {
        "schemes": ["Bearer"],
        "credentials": "c03",
    }
    assert lines[-1]["wire"] == [
        ["tasks/pushNotificationConfig/set", None],
        ["tasks/pushNotificationConfig/get", None],
    ]
