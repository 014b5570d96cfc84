"""Several agents behind one gateway from a config file: routing, ownership, balancing,
header forwarding, and an agent that goes away and comes back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import a2a
from tests.servers import Process, start_agent, start_gateway, write_config


@pytest.fixture(scope="module")
def agents() -> Iterator[dict[str, Process]]:
    started = {name: start_agent("tests.agents.scripted") for name in ("a", "b", "c")}
    yield started
    for process in started.values():
        process.stop()


@pytest.fixture(scope="module")
def multi(agents: dict[str, Process], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = {
        "default_agent": "beta",
        "forward_headers": ["X-Tenant-Id", "x-trace"],
        "agents": [
            {"name": "alpha", "target": agents["a"].address},
            {"name": "beta", "targets": [agents["b"].address], "card": {"name": "Beta"}},
            {"name": "pair", "targets": [agents["b"].address, agents["c"].address]},
        ],
    }
    path = write_config(tmp_path_factory.mktemp("multi") / "gateway.yaml", config)
    gateway = start_gateway({}, config=path)
    yield gateway.address
    gateway.stop()


def result_text(body: dict[str, Any]) -> str:
    return str(body["result"]["task"]["status"]["message"]["parts"][0]["text"])


def test_a_task_is_reachable_only_through_its_agent(multi: str) -> None:
    body = a2a.rpc(
        f"{multi}/agents/alpha/", "SendMessage", {"message": a2a.user_message("steps 1")}
    )
    task_id = body["result"]["task"]["id"]
    mine = a2a.rpc(f"{multi}/agents/alpha/", "GetTask", {"id": task_id})
    assert mine["result"]["id"] == task_id
    for other in ("beta", "pair"):
        error = a2a.rpc(f"{multi}/agents/{other}/", "GetTask", {"id": task_id})["error"]
        assert error["code"] == -32001
        cancel = a2a.rpc(f"{multi}/agents/{other}/", "CancelTask", {"id": task_id})["error"]
        assert cancel["code"] == -32001
    root = a2a.rpc(f"{multi}/", "GetTask", {"id": task_id})["error"]  # the root is beta
    assert root["code"] == -32001


def test_task_ids_are_unique_across_agents(multi: str) -> None:
    ids = set()
    for name in ("alpha", "beta", "pair") * 3:
        body = a2a.rpc(f"{multi}/agents/{name}/", "SendMessage", {"message": a2a.user_message("")})
        ids.add(body["result"]["task"]["id"])
    assert len(ids) == 9


def test_root_serves_the_default_agent_and_cards_take_overrides(multi: str) -> None:
    root = httpx.get(f"{multi}/.well-known/agent-card.json", timeout=10).json()
    assert root["name"] == "Beta"
    assert root["supportedInterfaces"][0]["url"] == f"{multi}/"
    beta = httpx.get(f"{multi}/agents/beta/.well-known/agent-card.json", timeout=10).json()
    assert beta["name"] == "Beta"
    assert beta["supportedInterfaces"][0]["url"] == f"{multi}/agents/beta/"
    alpha = httpx.get(f"{multi}/agents/alpha/.well-known/agent-card.json", timeout=10).json()
    assert alpha["name"] == "scripted"


def test_agents_lists_every_agent_and_readyz_every_target(
    multi: str, agents: dict[str, Process]
) -> None:
    listed = httpx.get(f"{multi}/agents", timeout=10).json()["agents"]
    assert [(a["name"], a["default"], a["health"]) for a in listed] == [
        ("alpha", False, "SERVING"),
        ("beta", True, "SERVING"),
        ("pair", False, "SERVING"),
    ]
    assert listed[0]["cardUrl"] == f"{multi}/agents/alpha/.well-known/agent-card.json"
    assert listed[0]["description"] == "Test agent driven by its input"
    ready = httpx.get(f"{multi}/readyz", timeout=10).json()
    assert ready["status"] == "ready"
    assert ready["agents"]["pair"]["targets"] == {
        agents["b"].address: "SERVING",
        agents["c"].address: "SERVING",
    }


def test_several_targets_are_balanced_round_robin(multi: str, agents: dict[str, Process]) -> None:
    pids = set()
    for _ in range(8):
        body = a2a.rpc(
            f"{multi}/agents/pair/", "SendMessage", {"message": a2a.user_message("whoami")}
        )
        pids.add(result_text(body))
    assert pids == {f"pid={agents['b'].popen.pid}", f"pid={agents['c'].popen.pid}"}


def test_only_allow_listed_headers_reach_the_agent(multi: str) -> None:
    headers = {
        "X-Tenant-Id": "acme",
        "X-Secret": "do-not-leak",
        "Authorization": "Bearer do-not-leak",
        "Cookie": "session=do-not-leak",
        "X-Request-Id": "req-42",
    }
    response = httpx.post(
        f"{multi}/agents/alpha/",
        json=a2a.request("SendMessage", {"message": a2a.user_message("headers")}),
        headers={**a2a.V1, **headers},
        timeout=30,
    )
    seen = json.loads(result_text(response.json()))
    assert seen["caller"] == {"x-tenant-id": "acme"}
    metadata = seen["metadata"]
    assert metadata["x-tenant-id"] == "acme"
    assert metadata["x-request-id"] == "req-42"
    assert metadata["x-a2a-principal"] == "anonymous"
    assert "do-not-leak" not in json.dumps(metadata)
    assert not {"x-secret", "authorization", "cookie", "x-trace"} & set(metadata)


def _send(url: str, text: str) -> dict[str, Any]:
    return a2a.rpc(url, "SendMessage", {"message": a2a.user_message(text)})


def test_an_agent_that_goes_away_fails_fast_and_is_used_again_when_back(
    agents: dict[str, Process], tmp_path: Path
) -> None:
    flaky = start_agent("tests.agents.scripted")
    port = flaky.address.rsplit(":", 1)[1]
    config = {
        "agents": [
            {"name": "flaky", "target": flaky.address},
            {"name": "steady", "target": agents["a"].address},
        ]
    }
    gateway = start_gateway({}, config=write_config(tmp_path / "gateway.yaml", config))
    flaky_url, steady_url = (f"{gateway.address}/agents/{n}/" for n in ("flaky", "steady"))
    try:
        assert "result" in _send(flaky_url, "whoami")
        flaky.stop()

        started = time.monotonic()
        error = _send(flaky_url, "whoami")["error"]
        # Fails fast on the known-down target: well under the 30 s a connect or deadline
        # wait would take, with room for a loaded 2-core machine.
        assert time.monotonic() - started < 10.0
        assert error["code"] == -32603
        assert error["data"][0]["reason"] == "AGENT_UNAVAILABLE"
        assert "flaky" in error["message"]
        assert "result" in _send(steady_url, "whoami")

        deadline = time.monotonic() + 10
        while True:
            ready = httpx.get(f"{gateway.address}/readyz", timeout=10)
            if ready.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert ready.status_code == 503
        assert ready.json()["agents"]["flaky"]["status"].startswith("UNREACHABLE")
        assert ready.json()["agents"]["steady"]["status"] == "SERVING"

        flaky = start_agent("tests.agents.scripted", "--port", port)
        deadline = time.monotonic() + 15
        while "result" not in (body := _send(flaky_url, "whoami")):
            assert time.monotonic() < deadline, body
            time.sleep(0.1)
        assert result_text(body) == f"pid={flaky.popen.pid}"
        deadline = time.monotonic() + 10
        while httpx.get(f"{gateway.address}/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        gateway.stop()
        flaky.stop()


def test_a_direct_reply_may_name_the_task_id_it_was_given(multi: str) -> None:
    body = _send(f"{multi}/agents/alpha/", "reply-with-ids")
    message = body["result"]["message"]
    assert message["parts"] == [{"text": "ids"}]
    assert "taskId" not in message
