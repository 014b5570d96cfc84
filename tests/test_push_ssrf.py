"""The SSRF guard on, as by default, on a real gateway: webhook URLs to loopback, private,
link-local and metadata addresses, a name resolving to loopback, other schemes, plain http
and credentials in URLs are refused with -32602 naming the field, in Create and inline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import a2a
from tests.servers import Process, start_gateway


@pytest.fixture(scope="module")
def guarded_gateway(scripted_agent: Process) -> Iterator[Process]:
    process = start_gateway({"scripted": scripted_agent.address})
    yield process
    process.stop()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://example.com/hook",  # https required
        "https://user:pass@example.com/hook",
    ],
)
def test_the_guard_refuses_webhooks_naming_the_field(guarded_gateway: Process, url: str) -> None:
    endpoint = guarded_gateway.address + "/"
    task = a2a.start_task(endpoint, "steps 1")
    body = a2a.rpc(endpoint, "CreateTaskPushNotificationConfig", {"taskId": task["id"], "url": url})
    assert body["error"]["code"] == -32602, body
    assert body["error"]["data"][1]["fieldViolations"][0]["field"] == "url"
    assert "user:pass" not in body["error"]["message"]
    before = a2a.rpc(endpoint, "ListTasks", {})["result"]["totalSize"]
    inline = a2a.rpc(
        endpoint,
        "SendMessage",
        {
            "message": a2a.user_message("steps 1"),
            "configuration": {"taskPushNotificationConfig": {"url": url}},
        },
    )
    field = inline["error"]["data"][1]["fieldViolations"][0]["field"]
    assert field == "configuration.taskPushNotificationConfig.url"
    assert a2a.rpc(endpoint, "ListTasks", {})["result"]["totalSize"] == before  # no task started
