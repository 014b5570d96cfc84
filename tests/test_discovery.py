"""Agent Cards, the agent list and health endpoints, served from Describe and gRPC health."""

from __future__ import annotations

import httpx

from tests.servers import Process


def test_agent_card_is_built_from_describe(gateway: Process) -> None:
    url = gateway.address + "/agents/scripted/.well-known/agent-card.json"
    card = httpx.get(url, timeout=10).json()
    assert card["name"] == "scripted"
    assert card["version"] == "0.0.1"
    assert card["capabilities"]["streaming"] is True
    assert card["capabilities"]["pushNotifications"] is False
    assert card["supportedInterfaces"] == [
        {
            "url": gateway.address + "/agents/scripted/",
            "protocolBinding": "JSONRPC",
            "protocolVersion": "1.0",
        }
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
    }
