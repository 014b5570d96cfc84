"""Agent Cards, the agent list and health endpoints, served from Describe and gRPC health."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests import a2a
from tests.servers import Process, start_gateway


def test_agent_card_is_built_from_describe(gateway: Process) -> None:
    url = gateway.address + "/agents/scripted/.well-known/agent-card.json"
    card = httpx.get(url, timeout=10).json()
    assert card["name"] == "scripted"
    assert card["version"] == "0.0.1"
    assert card["capabilities"]["streaming"] is True
    assert card["capabilities"]["pushNotifications"] is True
    endpoint = gateway.address + "/agents/scripted/"
    assert card["supportedInterfaces"] == [
        {"url": endpoint, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
        {"url": endpoint[:-1], "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
        {"url": endpoint, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
    ]
    assert card["skills"][0]["id"] == "script"
    assert card["defaultInputModes"] == ["text/plain"]


def test_root_card_points_at_the_root_endpoint(gateway: Process) -> None:
    card = httpx.get(gateway.address + "/.well-known/agent-card.json", timeout=10).json()
    assert card["supportedInterfaces"][0]["url"] == gateway.address + "/"


def test_agents_lists_every_agent_with_its_card(gateway: Process) -> None:
    agents = httpx.get(gateway.address + "/agents", timeout=10).json()["agents"]
    assert agents == [
        {
            "name": "scripted",
            "url": gateway.address + "/agents/scripted/",
            "cardUrl": gateway.address + "/agents/scripted/.well-known/agent-card.json",
            "default": True,
            "health": "SERVING",
            "description": "Test agent driven by its input",
        }
    ]


def test_healthz_and_readyz_report_ok_when_the_agent_serves(
    gateway: Process, scripted_agent: Process
) -> None:
    assert httpx.get(gateway.address + "/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(gateway.address + "/readyz", timeout=10)
    assert ready.status_code == 200
    target = scripted_agent.address
    assert ready.json() == {
        "status": "ready",
        "agents": {"scripted": {"status": "SERVING", "targets": {target: "SERVING"}}},
        "store": {"backend": "memory", "status": "ok"},
    }


def test_card_speaks_v03_too_and_is_served_at_the_legacy_path(gateway: Process) -> None:
    base = gateway.address + "/agents/scripted/.well-known/"
    card = httpx.get(base + "agent-card.json", timeout=10)
    legacy = httpx.get(base + "agent.json", timeout=10)
    assert legacy.content == card.content
    body = card.json()
    endpoint = gateway.address + "/agents/scripted/"
    assert body["url"] == endpoint
    assert body["protocolVersion"] == "0.3.0"
    assert body["preferredTransport"] == "JSONRPC"
    assert body["additionalInterfaces"] == [{"url": endpoint, "transport": "JSONRPC"}]


def test_card_caching_headers_and_304(gateway: Process) -> None:
    url = gateway.address + "/.well-known/agent-card.json"
    first = httpx.get(url, timeout=10)
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert first.headers["cache-control"] == "public, max-age=300"
    assert first.headers["last-modified"].endswith(" GMT")
    again = httpx.get(url, headers={"If-None-Match": f'"other", {etag}'}, timeout=10)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    since = httpx.get(url, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304
    changed = httpx.get(url, headers={"If-None-Match": '"other"'}, timeout=10)
    assert changed.status_code == 200
    assert changed.content == first.content


def test_forwarded_headers_from_a_trusted_proxy_shape_the_urls(gateway: Process) -> None:
    headers = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "agents.example.com, inner.local",
        "X-Forwarded-Prefix": "/a2a",
    }
    url = gateway.address + "/agents/scripted/.well-known/agent-card.json"
    card = httpx.get(url, headers=headers, timeout=10).json()
    public = "https://agents.example.com/a2a/agents/scripted/"
    assert card["url"] == public
    assert {i["url"] for i in card["supportedInterfaces"]} == {public, public[:-1]}
    agents = httpx.get(gateway.address + "/agents", headers=headers, timeout=10).json()
    assert agents["agents"][0]["url"] == public


def test_malformed_forwarded_headers_are_ignored(gateway: Process) -> None:
    headers = {"X-Forwarded-Host": "evil.com/path", "X-Forwarded-Proto": "gopher"}
    card = httpx.get(gateway.address + "/.well-known/agent-card.json", headers=headers).json()
    assert card["url"] == gateway.address + "/"


def test_public_url_and_card_overrides(scripted_agent: Process, tmp_path: Path) -> None:
    card_file = tmp_path / "card.json"
    card_file.write_text(
        json.dumps(
            {
                "provider": {"organization": "Example", "url": "https://example.com"},
                "skills": [{"id": "s", "name": "S", "description": "d", "tags": ["t"]}],
                "defaultInputModes": ["text/plain", "application/json"],
            }
        )
    )
    process = start_gateway(
        {"scripted": scripted_agent.address},
        "--public-url",
        "https://public.example.com/base/",
        "--card-file",
        f"scripted={card_file}",
        "--card-override",
        "scripted.version=2",
        "--card-override",
        "scripted.documentationUrl=https://docs.example.com",
        "--card-override",
        "scripted.iconUrl=https://example.com/icon.png",
        "--card-max-age",
        "60",
    )
    try:
        headers = {"X-Forwarded-Host": "ignored.example.com"}
        response = httpx.get(
            process.address + "/agents/scripted/.well-known/agent-card.json",
            headers=headers,
            timeout=10,
        )
        card = response.json()
        # A data part is accepted now that the card's input modes say so.
        data = {**a2a.user_message("steps 1"), "parts": [{"text": "steps 1"}, {"data": {}}]}
        sent = a2a.rpc(process.address + "/", "SendMessage", {"message": data})
    finally:
        process.stop()
    assert response.headers["cache-control"] == "public, max-age=60"
    assert card["url"] == "https://public.example.com/base/agents/scripted/"
    assert card["version"] == "2"
    assert card["provider"] == {"organization": "Example", "url": "https://example.com"}
    assert card["documentationUrl"] == "https://docs.example.com"
    assert card["iconUrl"] == "https://example.com/icon.png"
    assert [s["id"] for s in card["skills"]] == ["s"]
    assert sent["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--card-override", "scripted.url=http://x"], "cannot be overridden"),
        (["--card-override", "other.version=1"], "no agent named 'other'"),
        (["--card-override", "scripted.skills=[1]"], "must be a list of"),
        (["--public-url", "example.com"], "must start with http"),
    ],
)
def test_bad_card_configuration_is_refused(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--agent", "scripted=127.0.0.1:1", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr
