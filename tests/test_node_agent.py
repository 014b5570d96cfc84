"""The Node.js example agent (examples/node-agent) through the gateway: stream, cancel,
multi-turn. `make test` installs it with `npm ci`; skipped only when `node` is absent."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import httpx
import pytest

from tests import a2a
from tests.servers import AGENT_LINE, ROOT, Process, start, start_gateway

NODE = shutil.which("node")
AGENT_DIR = ROOT / "examples" / "node-agent"

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the Node.js agent cannot run"
)


@pytest.fixture(scope="module")
def node_agent() -> Iterator[Process]:
    assert NODE is not None
    assert (AGENT_DIR / "node_modules").is_dir(), "run `make node-agent` (npm ci) first"
    process, match = start([str(AGENT_DIR / "agent.js"), "--port", "0"], AGENT_LINE, program=NODE)
    process.address = f"{match.group(2)}:{match.group(3)}"
    yield process
    assert process.stop() == 0, process.output()


@pytest.fixture(scope="module")
def url(node_agent: Process) -> Iterator[str]:
    gateway = start_gateway({"text-stats": node_agent.address})
    yield gateway.address + "/agents/text-stats/"
    gateway.stop()


def test_the_card_comes_from_the_node_agent(url: str) -> None:
    card = httpx.get(url + ".well-known/agent-card.json", timeout=10).json()
    assert card["name"] == "text-stats"
    assert card["skills"][0]["id"] == "text-stats"
    assert card["skills"][0]["tags"] == ["text", "nodejs"]


def test_a_task_streams_progress_artifact_chunks_and_completes(url: str) -> None:
    events = a2a.send_stream(url, "the quick brown fox jumps")
    assert [e.id for e in events] == [str(i) for i in range(1, len(events) + 1)]
    assert events[0].state == "TASK_STATE_SUBMITTED"
    progress = [e.result["statusUpdate"]["metadata"]["progress"] for e in events[1:5]]
    assert progress == [25, 50, 75, 100]
    chunks = [e.result["artifactUpdate"] for e in events if e.kind == "artifactUpdate"]
    assert [(c["append"], c["lastChunk"]) for c in chunks] == [
        (False, False),
        (True, False),
        (True, True),
    ]
    text = "".join(c["artifact"]["parts"][0]["text"] for c in chunks)
    assert text == "words: 5\ncharacters: 25\nlines: 1\nturn: 1\n"
    final = events[-1].result["statusUpdate"]["status"]
    assert final["state"] == "TASK_STATE_COMPLETED"
    assert final["message"]["parts"][0]["text"] == "Counted 5 words"


def test_cancel_reaches_the_node_agent(url: str, node_agent: Process) -> None:
    params = {"message": a2a.user_message("slow 100"), "configuration": {"returnImmediately": True}}
    task_id = a2a.rpc(url, "SendMessage", params)["result"]["task"]["id"]
    deadline = time.monotonic() + 10
    while a2a.rpc(url, "GetTask", {"id": task_id})["result"]["status"]["state"] != (
        "TASK_STATE_WORKING"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    canceled = a2a.rpc(url, "CancelTask", {"id": task_id})["result"]
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    deadline = time.monotonic() + 10
    while f"CANCELLED {task_id}" not in node_agent.output():
        assert time.monotonic() < deadline, node_agent.output()
        time.sleep(0.05)


def test_multi_turn_asks_for_input_then_answers_with_the_history(url: str) -> None:
    first = a2a.send_stream(url, "?")
    assert first[-1].state == "TASK_STATE_INPUT_REQUIRED"
    task = first[0].result["task"]
    second = a2a.send_stream(url, "one two three", taskId=task["id"], contextId=task["contextId"])
    assert second[-1].state == "TASK_STATE_COMPLETED"
    chunks = [e.result["artifactUpdate"] for e in second if e.kind == "artifactUpdate"]
    text = "".join(c["artifact"]["parts"][0]["text"] for c in chunks)
    assert "words: 3\n" in text
    assert "turn: 2\n" in text
    history = a2a.rpc(url, "GetTask", {"id": task["id"]})["result"]["history"]
    assert [m["role"] for m in history][:3] == ["ROLE_USER", "ROLE_AGENT", "ROLE_USER"]


JSON_URI = "https://github.com/a2a-grpc-gateway/extensions/text-stats-json/v1"


def test_the_node_agent_declares_and_activates_its_extension(url: str) -> None:
    card = httpx.get(url + ".well-known/agent-card.json", timeout=10).json()
    declared = card["capabilities"]["extensions"][-1]
    assert (declared["uri"], declared["required"]) == (JSON_URI, False)
    body = a2a.request("SendMessage", {"message": a2a.user_message("two words")})
    headers = {**a2a.V1, "A2A-Extensions": JSON_URI}
    response = httpx.post(url, json=body, headers=headers, timeout=30)
    assert response.headers["A2A-Extensions"] == JSON_URI
    artifact = response.json()["result"]["task"]["artifacts"][0]
    text = "".join(p["text"] for p in artifact["parts"])
    assert text.endswith('{"words":2,"characters":9,"lines":1}\n')
    plain = a2a.rpc(url, "SendMessage", {"message": a2a.user_message("two words")})
    assert "{" not in "".join(p["text"] for p in plain["result"]["task"]["artifacts"][0]["parts"])
