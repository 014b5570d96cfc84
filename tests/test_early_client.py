"""The early-A2A example client (examples/early_a2a_client.py), unchanged, against a gateway.

Also the issue's acceptance test: one task, created by a v1.0 client, read and resubscribed
by the a2a-sdk 0.3 client and by the early-A2A client, each seeing its own wire format
(for the early client's tasks/get and tasks/resubscribe, names it shares with v0.3, that is
v0.3).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import a2a
from tests.servers import ROOT, JsonLines, Process, start_agent, start_gateway
from tests.test_interop_a2a_sdk03 import DRIVER, PYTHON, drive, kinds

CLIENT = [sys.executable, "-m", "examples.early_a2a_client"]


@pytest.fixture(scope="module")
def document_gateway() -> Iterator[Process]:
    agent = start_agent("examples.agents.document_analysis", "--delay", "0.01")
    gateway = start_gateway({"docs": agent.address})
    yield gateway
    gateway.stop()
    agent.stop()


def test_client_streams_progress_as_it_arrives(document_gateway: Process) -> None:
    text = "The gateway streams progress. Progress is what users want to see."
    result = subprocess.run(
        [*CLIENT, document_gateway.address + "/", text],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("task ")
    assert lines[0].endswith(": submitted")
    progress = [line for line in lines if line.startswith("status working")]
    assert [line.split()[2] for line in progress] == ["25%", "50%", "75%", "100%"]
    assert any(line.startswith("artifact analysis:") for line in lines)
    assert lines[-1].startswith("status completed")
    assert lines[-1].endswith("(final)")


def test_client_reports_errors(document_gateway: Process) -> None:
    result = subprocess.run(
        [*CLIENT, document_gateway.address + "/", "--get", "no-such-task"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "-32001" in result.stderr


def test_one_task_three_wire_formats(gateway: Process, tmp_path: Path) -> None:
    if not PYTHON.exists():
        pytest.skip(f"{PYTHON} does not exist (`make a2a03` could not create it)")
    url = gateway.address + "/agents/scripted/"
    # Created by a v1.0 client.
    head = a2a.stream(url, "SendStreamingMessage", {"message": a2a.user_message("hang")}, limit=2)
    assert head[0].state == "TASK_STATE_SUBMITTED"
    task_id = head[0].result["task"]["id"]

    # Read by the v0.3 SDK and by the early client.
    sdk_task = drive(gateway, "get", task_id)[0]["task"]
    assert (sdk_task["kind"], sdk_task["status"]["state"]) == ("task", "working")
    early_get = subprocess.run(
        [*CLIENT, url, "--get", task_id, "--raw"], capture_output=True, text=True, timeout=60
    )
    assert early_get.returncode == 0, early_get.stderr
    assert '"state": "working"' in early_get.stdout

    # Resubscribed by both at once; then the v1.0 client cancels the task.
    sdk = JsonLines([str(PYTHON), str(DRIVER), url, "resubscribe", task_id], tmp_path / "sdk")
    early = JsonLines([*CLIENT, url, "--resubscribe", task_id, "--raw"], tmp_path / "early")
    sdk.wait_for(1)
    early.wait_for(1)
    canceled = a2a.rpc(url, "CancelTask", {"id": task_id})["result"]
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"

    sdk_lines = sdk.finish()
    assert kinds(sdk_lines) == ["task working", "status-update canceled"]
    assert sdk_lines[-1]["wire"] == [["tasks/resubscribe", None]]

    # tasks/get and tasks/resubscribe are v0.3 names too, so the early client reads v0.3
    # shapes there (the early extras come with tasks/send and tasks/sendSubscribe only).
    snapshot, update = early.finish()
    assert (snapshot["kind"], snapshot["id"]) == ("task", task_id)
    assert snapshot["history"][0]["parts"] == [{"kind": "text", "text": "hang"}]
    assert update["kind"] == "status-update"
    assert update["taskId"] == task_id
    assert update["status"]["state"] == "canceled"
    assert update["final"] is True
