"""Replicas of the gateway on one private Redis (or Redis Cluster) for the tests: `Cluster`
starts and kills them; `Reader` follows a stream in a thread; the rest reads tasks back."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any

import httpx
from httpx_sse import connect_sse

from tests import a2a
from tests.conftest import Backend
from tests.redis_server import RedisCluster, RedisServer
from tests.servers import Process, start_gateway

LEASE = ["--lease", "1"]


class Cluster:
    """Gateway replicas on the private Redis; `start` returns their agent URLs."""

    def __init__(self, redis: RedisServer | RedisCluster, agent: Process) -> None:
        self.redis = redis
        self.agent = agent
        self.processes: list[Process] = []

    def start(
        self,
        count: int,
        *flags: str,
        redis: RedisServer | None = None,
        prefix: str = "",
        env: dict[str, str] | None = None,
    ) -> list[str]:
        """`count` replicas sharing one key prefix (a fresh one unless given)."""
        backend = Backend("redis", redis or self.redis)  # a RedisCluster: with --store-cluster
        prefix = prefix or f"test-{time.monotonic_ns()}:"
        urls = []
        for _ in range(count):
            process = start_gateway(
                {"scripted": self.agent.address},
                "--keepalive", "1", *LEASE, *flags, *backend.args(prefix),
                env=env,
            )  # fmt: skip
            self.processes.append(process)
            urls.append(process.address + "/agents/scripted/")
        return urls

    def process(self, url: str) -> Process:
        return next(p for p in self.processes if url.startswith(p.address + "/"))

    def kill(self, url: str) -> None:
        process = self.process(url)
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait(5)

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()


def get(url: str, task_id: str) -> dict[str, Any]:
    return a2a.rpc(url, "GetTask", {"id": task_id})


def wait_state(url: str, task_id: str, states: set[str], timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = get(url, task_id)
        if "result" in last and last["result"]["status"]["state"] in states:
            result: dict[str, Any] = last["result"]
            return result
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} never reached {states}: {last}")


def resume(url: str, task_id: str, last: int, **kwargs: Any) -> list[a2a.SseEvent]:
    headers = {"Last-Event-ID": str(last)}
    return a2a.stream(url, "SubscribeToTask", {"id": task_id}, headers=headers, **kwargs)


def assert_one_clean_log(url: str, task_id: str) -> list[a2a.SseEvent]:
    """The whole retained log: ids 1..N without gap or repeat, one final event, the last."""
    log = resume(url, task_id, 0)
    assert a2a.ids(log) == list(range(1, len(log) + 1))
    finals = [e for e in log if e.state and e.state not in ("TASK_STATE_WORKING",)]
    assert finals[0].kind == "task"
    assert finals[-1] is log[-1]
    assert len(finals) == 2, [e.state for e in finals]
    return log


class Reader(threading.Thread):
    """An SSE client in the background, keeping every event it gets until its stream ends."""

    def __init__(self, url: str, method: str, params: dict[str, Any], last: int | None = None):
        super().__init__(daemon=True)
        self.url, self.method, self.params = url, method, params
        self.headers = {} if last is None else {"Last-Event-ID": str(last)}
        self.events: list[a2a.SseEvent] = []
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with (
                httpx.Client(timeout=30) as client,
                connect_sse(
                    client,
                    "POST",
                    self.url,
                    json=a2a.request(self.method, self.params),
                    headers={**a2a.V1, **self.headers},
                ) as source,
            ):
                for sse in source.iter_sse():
                    self.events.append(a2a.SseEvent(sse.id or None, json.loads(sse.data)))
        except Exception as exc:
            self.error = exc

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            assert time.monotonic() < deadline, f"only {len(self.events)} events: {self.error}"
            assert self.is_alive() or len(self.events) >= count, self.error
            time.sleep(0.02)

    def finish(self, timeout: float = 20.0, *, dropped: bool = False) -> list[a2a.SseEvent]:
        """The events, once the stream ended. It must have ended cleanly, unless `dropped`
        (its replica was killed): then only a transport error may have ended it."""
        self.join(timeout)
        assert not self.is_alive(), "the stream did not end"
        if dropped:
            assert self.error is None or isinstance(self.error, httpx.TransportError), self.error
        elif self.error is not None:
            raise self.error
        return self.events
