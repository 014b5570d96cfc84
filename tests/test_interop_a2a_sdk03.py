"""Interop: the official a2a-sdk 0.3 client (in .venv-a2a03, see the Makefile) drives a gateway.

The client runs as a subprocess (tests/sdk03/driver.py) and prints what it parsed. It reads our
card's v0.3 fields (`url`, `preferredTransport`), sends v0.3 method names WITHOUT an
`A2A-Version` header, and parses every answer into its pydantic v0.3 types, which check the
`kind` discriminators, the states and the part shapes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import a2a
from tests.servers import ROOT, JsonLines, Process

PYTHON = ROOT / ".venv-a2a03" / "bin" / "python"
DRIVER = ROOT / "tests" / "sdk03" / "driver.py"
TIMEOUT = 60.0


def _usable() -> str | None:
    if not PYTHON.exists():
        return f"{PYTHON} does not exist (`make a2a03` could not create it)"
    probe = subprocess.run(
        [str(PYTHON), "-c", "import a2a.client"], capture_output=True, text=True, timeout=60
    )
    return None if probe.returncode == 0 else f"a2a-sdk 0.3 not importable: {probe.stderr}"


_reason = _usable()
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")


def agent_url(gateway: Process) -> str:
    return gateway.address + "/agents/scripted/"


def drive(gateway: Process, command: str, arg: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(PYTHON), str(DRIVER), agent_url(gateway), command, arg],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def kinds(lines: list[dict[str, Any]]) -> list[str]:
    out = []
    for line in lines:
        for value in (line.get("event"), line.get("task")):
            if value is not None:
                state = value.get("status", {}).get("state")
                out.append(f"{value['kind']} {state}" if state else value["kind"])
    return out


def wire(lines: list[dict[str, Any]]) -> list[list[str | None]]:
    found: list[list[str | None]] = lines[-1]["wire"]
    return found


def test_stream_and_get(gateway: Process) -> None:
    lines = drive(gateway, "stream", "steps 2")
    assert kinds(lines) == [
        "task submitted",
        "status-update working",
        "status-update working",
        *["artifact-update"] * 3,
        "status-update completed",
    ]
    assert wire(lines) == [["message/stream", None]]
    task_id = lines[0]["event"]["id"]
    assert lines[-2]["event"]["final"] is True
    got = drive(gateway, "get", task_id)
    task = got[0]["task"]
    assert task["status"]["state"] == "completed"
    assert task["artifacts"][0]["parts"] == [
        {"kind": "text", "text": f"part{i};"} for i in range(3)
    ]
    assert wire(got) == [["tasks/get", None]]


def test_cancel(gateway: Process) -> None:
    lines = drive(gateway, "stream-cancel", "hang")
    assert kinds(lines) == [
        "task submitted",
        "status-update working",
        "task canceled",
        "status-update canceled",
    ]
    assert wire(lines) == [["message/stream", None], ["tasks/cancel", None]]


def test_direct_reply(gateway: Process) -> None:
    lines = drive(gateway, "stream", "reply hi")
    assert lines[0]["message"]["parts"] == [{"kind": "text", "text": "direct hi"}]
    assert lines[0]["message"]["role"] == "agent"


def test_resubscribe(gateway: Process, tmp_path: Path) -> None:
    head = a2a.stream(
        agent_url(gateway), "SendStreamingMessage", {"message": a2a.user_message("hang")}, limit=2
    )
    task_id = head[0].result["task"]["id"]
    argv = [str(PYTHON), str(DRIVER), agent_url(gateway), "resubscribe", task_id]
    running = JsonLines(argv, tmp_path / "out.jsonl")
    assert kinds(running.wait_for(1)) == ["task working"]
    a2a.rpc(agent_url(gateway), "CancelTask", {"id": task_id})
    lines = running.finish()
    assert kinds(lines) == ["task working", "status-update canceled"]
    assert wire(lines) == [["tasks/resubscribe", None]]


def test_resubscribe_to_an_unknown_task_surfaces_task_not_found(gateway: Process) -> None:
    lines = drive(gateway, "resubscribe", "no-such-task")
    assert lines[0]["error"]["code"] == -32001
    assert wire(lines) == [["tasks/resubscribe", None]]


def test_resubscribe_to_a_finished_task_surfaces_unsupported_operation(gateway: Process) -> None:
    task = a2a.rpc(agent_url(gateway), "SendMessage", {"message": a2a.user_message("steps 1")})
    lines = drive(gateway, "resubscribe", task["result"]["task"]["id"])
    assert lines[0]["error"]["code"] == -32004


def test_stream_to_an_unknown_task_surfaces_task_not_found(gateway: Process) -> None:
    lines = drive(gateway, "stream-to", "no-such-task")
    assert lines[0]["error"]["code"] == -32001
    assert wire(lines) == [["message/stream", None]]
