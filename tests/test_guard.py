"""Cross-site protection (http/guard.py): JSON content types on every POST, and the Host check
against DNS rebinding; over a real gateway process, plus the pure host rules in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.http import guard
from gateway.ops.settings import Settings
from tests import a2a
from tests.servers import Process, start_gateway

BODY = a2a.request("GetTask", {"id": "nope"})


def post(url: str, content_type: str | None, **headers: str) -> httpx.Response:
    sent = {**a2a.V1, **headers}
    if content_type is not None:
        sent["Content-Type"] = content_type
    return httpx.post(url, content=orjson.dumps(BODY), headers=sent, timeout=30)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
        "application/jsonp",
    ],
)
@pytest.mark.parametrize("path", ["/", "/agents/scripted/", "/agents/scripted"])
def test_a_post_that_is_not_declared_json_is_415_with_a_json_rpc_error(
    gateway: Process, path: str, content_type: str | None
) -> None:
    response = post(gateway.address + path, content_type)
    assert response.status_code == 415
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] is None
    assert body["error"]["code"] == -32600
    assert body["error"]["data"][0]["reason"] == "UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/a2a+json", "Application/JSON; charset=utf-8"]
)
def test_a_post_declared_json_is_served(gateway: Process, content_type: str) -> None:
    response = post(gateway.address + "/agents/scripted/", content_type)
    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32001  # the task does not exist: served


def test_a_post_elsewhere_gets_the_rest_error_shape(gateway: Process) -> None:
    response = post(gateway.address + "/agents/scripted/message:send", "text/plain")
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == 415
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["reason"] == "UNSUPPORTED_MEDIA_TYPE"


@pytest.fixture(scope="module")
def public(scripted_agent: Process) -> Iterator[Process]:
    process = start_gateway(
        {"scripted": scripted_agent.address},
        "--public-url",
        "https://gw.example/a2a",
        "--allowed-host",
        "*.corp.example",
    )
    yield process
    process.stop()


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "gw.example.evil"]
)
def test_a_loopback_gateway_refuses_a_foreign_host(public: Process, host: str) -> None:
    for path in ("/agents/scripted/", "/agents/scripted/.well-known/agent-card.json"):
        if path.endswith("/"):
            response = post(public.address + path, "application/json", Host=host)
        else:
            response = httpx.get(public.address + path, headers={"Host": host}, timeout=30)
        assert response.status_code == 403, (path, response.text)
        body: dict[str, Any] = response.json()
        error = body["error"]
        details = error["data"] if "jsonrpc" in body else error["details"]
        assert details[0]["reason"] == "HOST_NOT_ALLOWED"


@pytest.mark.parametrize(
    "host",
    [
        *("localhost:9", "LOCALHOST", "app.localhost", "127.0.0.1", "127.1.2.3:80", "[::1]:8000"),
        *("gw.example", "gw.example:443", "a.corp.example"),
    ],
)
def test_loopback_names_the_public_host_and_allowed_hosts_are_served(
    public: Process, host: str
) -> None:
    response = httpx.get(
        public.address + "/agents/scripted/.well-known/agent-card.json",
        headers={"Host": host},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_which_hosts_are_checked_follows_the_bind_address_and_settings() -> None:
    assert guard.allowed_hosts(Settings()) == frozenset()  # loopback: loopback names only
    assert guard.allowed_hosts(Settings(host="0.0.0.0")) is None
    assert guard.allowed_hosts(Settings(host="0.0.0.0", allowed_hosts=("A.example",))) == frozenset(
        {"a.example"}
    )
    assert guard.allowed_hosts(Settings(allowed_hosts=("*",))) is None
    public = Settings(public_url="https://Gw.Example:8443/x")
    assert guard.allowed_hosts(public) == frozenset({"gw.example"})


def test_host_names_lose_their_port_and_brackets() -> None:
    assert guard.host_name("Example.COM:80") == "example.com"
    assert guard.host_name("[::1]:8000") == "::1"
    assert guard.host_name("[::1]") == "::1"
    assert guard.host_name("example.com") == "example.com"
    assert not guard.host_allowed("corp.example", frozenset({"*.corp.example"}))
    assert guard.host_allowed("a.b.corp.example", frozenset({"*.corp.example"}))
