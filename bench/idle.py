"""The workloads that need fresh processes, since RSS never gives back what an earlier
measurement freed: `idle` (memory per idle open stream, and per the two other shapes of
"idle") and `finished` (finished-task memory, bench/finished.py)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from bench import finished as finished_memory
from bench.launch import hold_open, run_clients, start_agent, start_gateway, start_sdk
from bench.procs import Server, start_redis
from bench.workload import Sizes, Spec


def idle(sizes: Sizes, redis: str | None = None) -> dict[str, dict[str, float]]:
    """Memory per idle open stream (each its own running task), in fresh server processes;
    with `redis` (the binary) also one gateway replica on a fresh redis-server, whose memory
    is reported apart. Two replicas are not measured: each holds its own streams alike."""
    out: dict[str, dict[str, float]] = {}
    hold = Spec(hold=600, size=sizes.size)
    systems = [("gateway", sizes.idle), ("sdk", sizes.sdk_idle)]
    if redis is not None:
        systems.append(("gateway_redis", sizes.idle))
    for system, count in systems:
        servers: list[Server] = []
        try:
            store: Server | None = None
            if system == "sdk":
                server = start_sdk()
                servers.append(server)
            else:
                agent = start_agent()
                servers.append(agent)
                if system == "gateway_redis":
                    assert redis is not None
                    store = start_redis(redis)
                    servers.append(store)
                server = start_gateway(
                    agent, 10_000, store=store, prefix="idle:", running=count + 100
                )
                servers.append(server)
            run_clients("sse", "stream", server.address, 2, Spec(events=20, size=sizes.size))
            time.sleep(0.5)

            def rss(server: Server = server, store: Server | None = store) -> tuple[int, int]:
                return server.rss(), store.rss() if store is not None else 0

            before = rss()
            opened, seconds, after = hold_open(server.address, count, hold, rss)
            out[system] = {
                "streams": opened,
                "kb_per_stream": (after[0] - before[0]) / max(1, opened) / 1024,
                "open_seconds": seconds,
            }

            if store is not None:
                out[system]["redis_kb_per_stream"] = (after[1] - before[1]) / max(1, opened) / 1024
        finally:
            for started in reversed(servers):
                started.stop(timeout=5)
    out["gateway_shapes"] = other_idle_shapes(sizes.idle, sizes.size)
    return out


def finished(sizes: Sizes) -> dict[str, dict[str, float]]:
    """Finished-task memory (bench/finished.py) in a fresh gateway process."""
    agent = start_agent()
    gateway = start_gateway(agent, 10_000)
    try:
        tasks = sizes.finished_tasks
        return {"gateway": finished_memory.measure(gateway, tasks=tasks, events=100, size=4096)}
    finally:
        gateway.stop(timeout=5)
        agent.stop(timeout=5)


def other_idle_shapes(count: int, size: int) -> dict[str, float]:
    """The two other shapes of "idle", each in fresh processes (RSS never gives back what a
    previous measurement freed): KB per extra subscriber of ONE task (no call of its own),
    and KB per task waiting for input (no call, no stream)."""
    out: dict[str, float] = {}
    for shape in ("subscribers", "waiting"):
        agent = start_agent()
        server = start_gateway(agent, 10_000, running=count + 100)
        try:
            run_clients("sse", "stream", server.address, 2, Spec(events=20, size=size))
            time.sleep(0.5)
            out.update(_shape(shape, server, count, size))
        finally:
            server.stop(timeout=5)
            agent.stop(timeout=5)
    return out


def _shape(shape: str, server: Server, count: int, size: int) -> dict[str, float]:
    url = server.address

    def rss() -> tuple[int, int]:
        return server.rss(), 0

    if shape == "waiting":
        before = rss()
        waiting, _, after = hold_open(url, count, Spec(ask=1, size=size), rss, mode="waiting")
        return {
            "waiting": waiting,
            "kb_per_waiting_task": (after[0] - before[0]) / max(1, waiting) / 1024,
        }

    message = {"messageId": "held", "role": "ROLE_USER", "parts": [{"text": Spec(hold=600).text()}]}
    params: dict[str, Any] = {"message": message, "configuration": {"returnImmediately": True}}
    request = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": params}
    reply = httpx.post(url, json=request, headers={"A2A-Version": "1.0"}, timeout=30).json()
    task = reply["result"]["task"]["id"]
    before = rss()
    subscribers, _, after = hold_open(url, count, Spec(), rss, task=task)
    per_subscriber = (after[0] - before[0]) / max(1, subscribers) / 1024
    return {"subscribers": subscribers, "kb_per_subscriber": per_subscriber}
