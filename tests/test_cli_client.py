"""`a2a-gateway call / agents / get / cancel` as real subprocesses against a real gateway."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import a2a
from tests.conftest import API_KEYS, make_token
from tests.servers import ROOT, Process


@pytest.fixture
def url(gateway: Process) -> str:
    return gateway.address + "/agents/scripted/"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a subprocess, with `env` added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def test_call_prints_progress_status_and_artifact_and_exits_0(url: str) -> None:
    result = cli("call", url, "steps 3")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "part0;part1;part2;\n"  # artifacts alone on stdout
    lines = result.stderr.splitlines()
    assert lines[0].startswith("task ")
    assert lines[0].endswith(" submitted")
    assert lines[1:5] == [
        " 33% working  step 1",
        " 66% working  step 2",
        "100% working  step 3",
        "── out ──",
    ]
    assert lines[-1] == "completed: done"


def test_call_json_prints_one_raw_event_per_line(url: str) -> None:
    result = cli("call", "--json", url, "steps 2")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["eventId"] for e in events] == list(range(1, 8))
    assert next(iter(events[0]["result"])) == "task"
    assert events[1]["result"]["statusUpdate"]["metadata"] == {"progress": 50}
    assert events[-1]["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert result.stderr == ""


def test_exit_codes_follow_the_final_state(url: str) -> None:
    failed = cli("call", url, "error-midstream")
    assert failed.returncode == 3
    assert "failed: Agent 'scripted' returned INTERNAL: the model crashed" in failed.stderr
    asked = cli("call", url, "ask")
    assert asked.returncode == 6
    assert "input-required: say more" in asked.stderr
    task_id = asked.stderr.split()[1]
    assert f"--task {task_id}" in asked.stderr
    answered = cli("call", url, "blue", "--task", task_id)
    assert answered.returncode == 0, answered.stderr
    assert answered.stderr.splitlines()[-1] == "completed: answered: blue"
    direct = cli("call", url, "reply hi")
    assert direct.returncode == 0
    assert direct.stdout == "direct hi\n"


def test_ctrl_c_without_a_terminal_cancels_the_task(url: str, tmp_path: Path) -> None:
    err = tmp_path / "stderr"
    with err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "call", url, "hang"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while "working forever" not in err.read_text():
                assert time.monotonic() < deadline, err.read_text()
                assert process.poll() is None, err.read_text()
                time.sleep(0.02)
            process.send_signal(signal.SIGINT)
            assert process.wait(30) == 4, err.read_text()
        finally:
            process.kill()
    task_id = err.read_text().split()[1]
    assert f"canceled: task {task_id}" in err.read_text()
    task = a2a.rpc(url, "GetTask", {"id": task_id})["result"]
    assert task["status"]["state"] == "TASK_STATE_CANCELED"


def test_agents_get_and_cancel(gateway: Process, url: str) -> None:
    agents = cli("agents", gateway.address)
    assert agents.returncode == 0, agents.stderr
    assert "scripted" in agents.stdout
    assert "SERVING" in agents.stdout
    listed = json.loads(cli("agents", "--json", gateway.address).stdout)
    assert [a["name"] for a in listed["agents"]] == ["scripted"]
    task = a2a.start_task(url, "hang")
    shown = cli("get", url, task["id"])
    assert shown.returncode == 0
    assert f"task {task['id']}" in shown.stdout
    assert "state working  working forever" in shown.stdout
    canceled = cli("cancel", url, task["id"])
    assert canceled.returncode == 0
    assert canceled.stdout.strip() == f"task {task['id']} canceled"
    again = cli("cancel", url, task["id"])
    assert again.returncode == 1
    assert "error:" in again.stderr
    assert "-32002" in again.stderr
    raw = json.loads(cli("get", "--json", url, task["id"]).stdout)
    assert raw["status"]["state"] == "TASK_STATE_CANCELED"


def test_bad_urls_exit_1_with_a_clear_message(gateway: Process) -> None:
    not_agent = cli("call", gateway.address + "/healthz", "hello")
    assert not_agent.returncode == 1
    assert "no Agent Card at" in not_agent.stderr
    missing = cli("get", gateway.address + "/agents/scripted/", "no-such-task")
    assert missing.returncode == 1
    assert "Task not found" in missing.stderr
    not_gateway = cli("agents", gateway.address + "/healthz")
    assert not_gateway.returncode == 1
    assert "not an a2a-gateway agents list" in not_gateway.stderr


def test_rejected_and_auth_required_exit_5_and_7(url: str) -> None:
    rejected = cli("call", url, "reject")
    assert rejected.returncode == 5, rejected.stderr
    assert "rejected: not my kind of task" in rejected.stderr
    auth = cli("call", url, "auth-required")
    assert auth.returncode == 7, auth.stderr
    assert "auth-required: sign in first" in auth.stderr


def test_ctrl_c_on_a_terminal_offers_detach_and_exits_130_leaving_the_task_running(
    url: str,
) -> None:
    """stdin is a real pseudo-terminal, so `call` asks "cancel the task or detach?"."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "call", url, "hang"],
        cwd=ROOT,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while text not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                seen += os.read(controller, 4096)

    try:
        read_until(b"working forever")
        process.send_signal(signal.SIGINT)
        read_until(b"[c/d]")
        os.write(controller, b"d\n")
        assert process.wait(30) == 130, seen.decode(errors="replace")
        read_until(b"detached")
    finally:
        process.kill()
        os.close(controller)
    task_id = next(w for w in seen.decode(errors="replace").split() if len(w) == 36 and "-" in w)
    task = a2a.rpc(url, "GetTask", {"id": task_id})["result"]
    assert task["status"]["state"] == "TASK_STATE_WORKING"  # detached: it goes on
    a2a.rpc(url, "CancelTask", {"id": task_id})


def test_token_env_token_and_headers_reach_a_gateway_that_insists_on_them(
    auth_gateway: Process,
) -> None:
    url = auth_gateway.address + "/agents/scripted/"
    refused = cli("call", url, "steps 1")
    assert refused.returncode == 1
    assert "401" in refused.stderr or "Unauthenticated" in refused.stderr
    token = make_token("dana")
    by_flag = cli("call", url, "caller", "--token", token)
    assert by_flag.returncode == 0, by_flag.stderr
    assert "principal=dana" in by_flag.stderr
    by_env = cli("call", url, "caller", env={"A2A_TOKEN": make_token("erin")})
    assert by_env.returncode == 0, by_env.stderr
    assert "principal=erin" in by_env.stderr
    header = f"X-API-Key: {API_KEYS['alice']}"
    by_header = cli("call", url, "caller", "--header", header)
    assert by_header.returncode == 0, by_header.stderr
    assert "principal=alice" in by_header.stderr
