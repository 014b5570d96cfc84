"""Push delivery shared by replicas on a private redis-server: one replica delivers a config
at a time; when it is killed (-9) another continues from the last acknowledged event."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests import a2a
from tests.conftest import Backend
from tests.receiver import Receiver, terminal
from tests.redis_server import RedisServer
from tests.servers import Process, start_gateway, write_config

PUSH = {
    "allow_hosts": ["127.0.0.1"],
    "allow_http": True,
    "lease": 1.0,
    "backoff": 0.05,
    "signing": True,  # a generated key per replica
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


class Replicas:
    """Gateway replicas on one key prefix of the private Redis, push allowed to 127.0.0.1."""

    def __init__(self, redis: RedisServer, agent: Process, config: Path) -> None:
        self.redis = redis
        self.agent = agent
        self.config = config
        self.prefix = f"test-push-{uuid.uuid4().hex[:8]}:"
        self.processes: list[Process] = []

    def start(self) -> Process:
        process = start_gateway(
            {"scripted": self.agent.address},
            "--lease", "1", *Backend("redis", self.redis).args(self.prefix),
            config=self.config,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture
def replicas(
    redis_server: RedisServer, scripted_agent: Process, tmp_path: Path
) -> Iterator[Replicas]:
    group = Replicas(
        redis_server, scripted_agent, write_config(tmp_path / "g.yaml", {"push": PUSH})
    )
    yield group
    group.stop_all()


def test_a_killed_delivering_replica_is_continued_by_another_without_a_gap(
    replicas: Replicas, receiver: Receiver
) -> None:
    a, b = replicas.start(), replicas.start()
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
    # b's JWKS has a's key too: every request verifies, whichever replica signed it
    keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(jwks(b)).keys}
    signers = set()
    for hit in hits:
        token = hit.headers["x-a2a-notification-signature"]
        kid = jwt.get_unverified_header(token)["kid"]
        jwt.decode(token, keys[kid].key, algorithms=["ES256"], audience=receiver.url(path))
        signers.add(kid)
    assert len(signers) == 2


def jwks(gateway: Process) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(
        gateway.address + "/.well-known/jwks.json", timeout=10
    ).json()
    return document


def test_configs_survive_a_restart_of_every_replica(replicas: Replicas, receiver: Receiver) -> None:
    first = replicas.start()
    task = a2a.start_task(first.address + "/", "ask")  # input-required: the task waits
    path = f"/ok/{uuid.uuid4().hex[:8]}"
    params = {"taskId": task["id"], "url": receiver.url(path), "id": "kept", "token": "t"}
    assert "result" in a2a.rpc(first.address + "/", "CreateTaskPushNotificationConfig", params)
    receiver.wait_for(lambda: len(receiver.at(path)) >= 1, what="the snapshot")
    replicas.stop_all()
    again = replicas.start()
    ref = {"taskId": task["id"], "id": "kept"}
    config = a2a.rpc(again.address + "/", "GetTaskPushNotificationConfig", ref)["result"]
    assert config["url"] == receiver.url(path)
    assert config["token"] == "t"
    assert config["deliveryStatus"]["state"] == "active"
    answer = {"message": a2a.user_message("42", taskId=task["id"])}
    assert "result" in a2a.rpc(again.address + "/", "SendMessage", answer)
    hits = receiver.wait_terminal(path, timeout=60)  # the restarted replica delivers the rest
    ids = [h.event_id for h in hits]
    assert sorted(set(ids)) == list(range(ids[0], ids[-1] + 1))
