"""Finished-task memory: what a finished task costs the gateway, against its payload.

In a fresh gateway process, `tasks` tasks each stream `events` artifact chunks of `size`
bytes (a payload of events x size per task) over SSE to the end, and each is then replayed
once from the start (`Last-Event-ID: 0`) in v1.0 and once in v0.3 (`tasks/resubscribe`):
everything a finished task can be made to cache. The figure is the gateway's RSS after,
minus before, over the total payload (1.0x would be one copy of the payload; the target is
about 1.5x).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from bench.procs import Server
from bench.workload import Spec

V1 = {"A2A-Version": "1.0", "Content-Type": "application/json"}


def _read(client: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str]) -> str:
    """POST a streaming request, read it to the end; the task id it names (v1.0 or v0.3)."""
    task_id = ""
    with client.stream("POST", url, json=body, headers=headers) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not task_id and line.startswith("data: ") and '"id":"' in line:
                marker = '"task":{"id":"' if '"task":{' in line else '"id":"'
                start = line.find(marker)
                if start >= 0:
                    start += len(marker)
                    task_id = line[start : line.index('"', start)]
    return task_id


def message(text: str) -> dict[str, Any]:
    return {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [{"text": text}]}


def measure(gateway: Server, *, tasks: int, events: int, size: int) -> dict[str, float]:
    """RSS growth per payload byte after `tasks` finished, replayed tasks (see module)."""
    url = gateway.address
    spec = Spec(events=events, size=size).text()
    with httpx.Client(timeout=120) as client:

        def one() -> str:
            body = {"jsonrpc": "2.0", "id": 1, "method": "SendStreamingMessage"}
            return _read(client, url, {**body, "params": {"message": message(spec)}}, V1)

        for _ in range(2):  # warm up allocator and caches
            one()
        time.sleep(0.5)
        before = gateway.rss()
        ids = [one() for _ in range(tasks)]
        for task_id in ids:
            replay = {"jsonrpc": "2.0", "id": 2, "method": "SubscribeToTask"}
            _read(client, url, {**replay, "params": {"id": task_id}}, {**V1, "Last-Event-ID": "0"})
            v03 = {"jsonrpc": "2.0", "id": 3, "method": "tasks/resubscribe"}
            _read(
                client,
                url,
                {**v03, "params": {"id": task_id}},
                {"Content-Type": "application/json", "Last-Event-ID": "0"},
            )
        after = gateway.rss()
    payload = tasks * events * size
    return {
        "tasks": tasks,
        "payload_kb_per_task": events * size / 1024,
        "rss_kb_per_task": (after - before) / tasks / 1024,
        "ratio": (after - before) / payload,
    }
