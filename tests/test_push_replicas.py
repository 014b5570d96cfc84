"""Push delivery shared by replicas on a private redis-server: one replica delivers a config
at a time; when it is killed (-9) another continues from the last acknowledged event."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import a2a
from tests.conftest import Backend
from tests.receiver import Receiver, terminal
from tests.redis_server import RedisServer
from tests.servers import Process, start_gateway, write_config

PUSH = {"allow_hosts": ["127.0.0.1"], "allow_http": True, "lease": 1.0, "backoff": 0.05}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def replicas(
    redis_server: RedisServer, scripted_agent: Process, tmp_path: Path
) -> Iterator[list[Process]]:
    config = write_config(tmp_path / "gateway.yaml", {"push": PUSH})
    prefix = f"test-push-{uuid.uuid4().hex[:8]}:"
    started: list[Process] = []

    def start() -> Process:
        process = start_gateway(
            {"scripted": scripted_agent.address},
            "--lease", "1", *Backend("redis", redis_server).args(prefix),
            config=config,
        )  # fmt: skip
        started.append(process)
        return process

    start()
    start()
    yield started
    for process in started:
        process.stop()


def test_a_killed_delivering_replica_is_continued_by_another_without_a_gap(
    replicas: list[Process], receiver: Receiver
) -> None:
    a, b = replicas
    task = a2a.start_task(b.address + "/", "steps 30 100")  # the turn runs on b
    path = f"/ok/{uuid.uuid4().hex[:8]}"
    params = {"taskId": task["id"], "url": receiver.url(path), "id": "hook"}
    created = a2a.rpc(a.address + "/", "CreateTaskPushNotificationConfig", params)
    assert "result" in created, created  # a claims the config and delivers it
    receiver.wait_for(lambda: len(receiver.at(path)) >= 3, what="three deliveries from a")
    a.popen.send_signal(signal.SIGKILL)
    a.popen.wait(5)
    killed = time.monotonic()
    hits = receiver.wait_terminal(path, timeout=60)
    ids = [h.event_id for h in hits]
    assert ids == sorted(ids)
    first, last = ids[0], ids[-1]
    assert sorted(set(ids)) == list(range(first, last + 1))  # no gap
    by_id: dict[int, bytes] = {}
    for hit in hits:
        assert by_id.setdefault(hit.event_id, hit.body) == hit.body  # duplicates: same event
    assert terminal(hits[-1].json)
    assert hits[-1].json["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert time.monotonic() - killed < 30
    assert any(h.at > killed for h in hits)  # b delivered the rest
    ref = {"taskId": task["id"], "id": "hook"}
    config = a2a.rpc(b.address + "/", "GetTaskPushNotificationConfig", ref)["result"]
    assert config["deliveryStatus"] == {"state": "done", "lastEventId": last}
