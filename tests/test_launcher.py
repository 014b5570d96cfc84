"""`make run`'s launcher and the `a2a-gateway` command, as real processes."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
from a2a.types import a2a_pb2 as pb

from tests import a2a
from tests.grpc_a2a import V1, stub
from tests.servers import ROOT, start, wait_healthy

READY = re.compile(r"A2A gateway ready at (http://\S+)")


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_demo_serves_both_agents_and_ctrl_c_leaves_no_process_behind() -> None:
    process, match = start(
        ["-m", "examples.run_demo"],
        READY,
        env={"PORT": "0", "DOC_ANALYSIS_DELAY": "0.01"},
        timeout=60,  # five agent processes and a gateway, on a machine the suite keeps busy
    )
    try:
        url = match.group(1)
        wait_healthy(url + "/healthz")
        children = children_of(process.popen.pid)
        names = [a["name"] for a in httpx.get(url + "/agents", timeout=10).json()["agents"]]
        assert names[:2] == ["document-analysis", "echo"]  # and text-stats where node is
        assert "image-render" in names
        assert len(children) == len(names) + 1  # the agents and the gateway
        events = a2a.send_stream(url + "/agents/document-analysis/", "One doc. Two sentences.")
        progress = [
            e.result["statusUpdate"]["metadata"]["progress"]
            for e in events
            if e.kind == "statusUpdate"
            and "progress" in e.result["statusUpdate"].get("metadata", {})
        ]
        assert progress == [25, 50, 75, 100]
        assert [e.kind for e in events].count("artifactUpdate") >= 3
        assert events[-1].state == "TASK_STATE_COMPLETED"
        reply = a2a.rpc(url + "/agents/echo/", "SendMessage", {"message": a2a.user_message("hi")})
        assert reply["result"]["message"]["parts"][0]["text"] == "echo: hi", reply
        asked = a2a.send_stream(url + "/agents/echo/", "?")
        assert asked[-1].state == "TASK_STATE_INPUT_REQUIRED"
        task = asked[0].result["task"]
        answer = a2a.rpc(
            url + "/agents/echo/",
            "SendMessage",
            {"message": a2a.user_message("blue", taskId=task["id"])},
        )["result"]["task"]
        assert answer["status"]["state"] == "TASK_STATE_COMPLETED"
        assert answer["artifacts"][0]["parts"][0]["text"] == "echo: blue"
        assert "workflow" in names  # it calls the other two through the gateway
        combined = a2a.send_stream(url + "/agents/workflow/", "Agents call agents.")
        assert combined[-1].state == "TASK_STATE_COMPLETED", combined[-1].data
        assert f"browser UI:  {url}/ui/" in process.output()
        assert httpx.get(url + "/ui/", timeout=10).status_code == 200
        grpc_line = re.search(r"A2A gRPC:\s+(\S+)", process.output())
        assert grpc_line, process.output()
        with grpc.insecure_channel(grpc_line.group(1)) as channel:  # the same task over gRPC
            got = stub(channel).GetTask(  # type: ignore[arg-type]
                pb.GetTaskRequest(tenant="echo", id=task["id"]), metadata=V1, timeout=10
            )
        assert got.status.state == pb.TASK_STATE_COMPLETED
    finally:
        assert process.stop(signal.SIGINT) == 0
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if alive(pid)]


def test_gateway_help_explains_the_agent_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "--agent NAME=HOST:PORT" in result.stdout


def test_gateway_refuses_a_bad_agent_before_listening() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--agent", "Bad Name=localhost:x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "listening" not in result.stdout
