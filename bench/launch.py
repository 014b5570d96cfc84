"""The bench's systems and clients, as processes: the load agent (bench/agent.py), the
gateway in front of it, the a2a-sdk server (bench/sdk_server.py), and client processes
(bench/client.py) whose one-line JSON summaries are read and merged here."""

from __future__ import annotations

import re
import select
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench.procs import ROOT, Server, start
from bench.workload import Spec

AGENT_LINE = r"AGENT \S+ LISTENING (\S+)"
GATEWAY_LINE = r"a2a-gateway listening on (http://\S+)"
GRPC_LINE = re.compile(r"a2a-gateway gRPC on (\S+)")
SDK_LINE = r"SDK LISTENING (http://\S+)"


def start_agent() -> Server:
    return start("agent", ["-m", "bench.agent"], AGENT_LINE)


def start_gateway(
    agent: Server,
    max_events: int,
    *,
    name: str = "gateway",
    store: Server | None = None,
    prefix: str = "",
    running: int = 1000,
    grpc: bool = False,
    cluster: bool = False,
    workers: int = 1,
) -> Server:
    """`running`: task turns at once (the default limit, 1000, unless idle needs more);
    `grpc`: with the gRPC binding on a free port too (see `grpc_address`)."""
    args = ["-m", "gateway", "serve", "--port", "0", "--log-level", "warning"]
    if grpc:
        args += ["--grpc-port", "0"]
    args += ["--agent", f"load={agent.address}", "--max-events-per-task", str(max_events)]
    args += ["--max-running-tasks", str(running)]
    args += ["--max-subscribers-per-task", str(max(100, running))]
    if store is not None:
        args += ["--store", store.address, "--store-prefix", prefix]
        if cluster:
            args.append("--store-cluster")
        if workers > 1:
            args += ["--workers", str(workers)]
    server = start(name, args, GATEWAY_LINE)
    server.address += "/"
    return server


def grpc_address(gateway: Server, timeout: float = 10.0) -> str:
    """The `host:port` of a gateway's gRPC binding (printed after its HTTP address)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = GRPC_LINE.search(gateway.output())
        if match:
            return match.group(1)
        time.sleep(0.02)
    raise TimeoutError(f"{gateway.name} printed no gRPC address:\n{gateway.output()}")


def start_sdk() -> Server:
    server = start("sdk", ["-m", "bench.sdk_server"], SDK_LINE)
    server.address += "/"
    return server


def client_command(
    kind: str, mode: str, url: str, streams: int, spec: Spec, **flags: Any
) -> list[str]:
    args = [sys.executable, "-m", "bench.client", kind, mode, "--url", url]
    args += ["--streams", str(streams), "--spec", spec.text()]
    if flags.get("latency"):
        args.append("--latency")
    args += ["--timeout", str(flags.get("timeout", 300))]
    if flags.get("task"):
        args += ["--task", str(flags["task"])]
    return args


def run_clients(
    kind: str,
    mode: str,
    url: str,
    streams: int,
    spec: Spec,
    *,
    procs: int = 1,
    latency: bool = False,
    timeout: float = 300,
) -> dict[str, Any]:
    """Run `procs` client processes sharing `streams`; merge their summaries."""
    shares = [streams // procs + (1 if i < streams % procs else 0) for i in range(procs)]
    popens = [
        subprocess.Popen(
            client_command(kind, mode, url, share, spec, latency=latency, timeout=timeout),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for share in shares
        if share
    ]
    outs = []
    for popen in popens:
        stdout, stderr = popen.communicate(timeout=timeout + 30)
        if popen.returncode != 0:
            raise RuntimeError(f"client failed ({popen.returncode}): {stderr.decode()[-2000:]}")
        outs.append(orjson.loads(stdout.strip().splitlines()[-1]))
    merged: dict[str, Any] = {
        "streams": sum(o["streams"] for o in outs),
        "events": sum(o["events"] for o in outs),
        "start": min(o["start"] for o in outs),
        "end": max(o["end"] for o in outs),
        "first_chunk": min((o["first_chunk"] for o in outs if o["first_chunk"]), default=0.0),
        "ttfe": [t for o in outs for t in o["ttfe"]],
        "incomplete": sum(o["incomplete"] for o in outs),
        "errors": sorted({e for o in outs for e in o["errors"]}),
        "late": sum(o.get("late", 0) for o in outs),
    }
    if latency:
        merged["latencies_ns"] = [n for o in outs for n in o["latencies_ns"]]
    if merged["incomplete"] or merged["errors"]:
        raise RuntimeError(
            f"{kind} {mode} on {url}: {merged['incomplete']} incomplete, errors {merged['errors']}"
        )
    return merged


def hold_open(
    url: str,
    count: int,
    spec: Spec,
    rss: Callable[[], tuple[int, int]],
    timeout: float = 180,
    *,
    mode: str = "idle",
    task: str = "",
) -> tuple[int, float, tuple[int, int]]:
    """Open `count` idle streams (or, by `mode`, waiting tasks) in a client process;
    (opened, seconds, `rss()` while open)."""
    popen = subprocess.Popen(
        client_command("sse", mode, url, count, spec, timeout=timeout, task=task),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert popen.stdout is not None
    assert popen.stdin is not None
    assert popen.stderr is not None
    try:
        ready, _, _ = select.select([popen.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"{count} idle streams did not open within {timeout}s")
        line = popen.stdout.readline()
        if not line:
            raise RuntimeError(f"idle client failed: {popen.stderr.read().decode()[-2000:]}")
        status = orjson.loads(line)
        time.sleep(0.5)
        return int(status["open"]), float(status["seconds"]), rss()
    finally:
        popen.stdin.write(b"close\n")
        popen.stdin.flush()
        try:
            popen.wait(30)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)
