"""Push notifications end to end: a real gateway process, the scripted agent and a real
webhook receiver on 127.0.0.1 (tests/receiver.py), the guard configured to allow it."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests import a2a
from tests.conftest import API_KEYS, api_key
from tests.receiver import Receiver, state_of, terminal
from tests.servers import Process, start_gateway, write_config

TOKEN_HEADER = "x-a2a-notification-token"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def push_gateway(
    scripted_agent: Process, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    """Auth on (alice's and bob's API keys), push allowed to 127.0.0.1 over http, fast
    retries, at most 3 configs per task, signed requests."""
    push = {
        "allow_hosts": ["127.0.0.1"],
        "allow_http": True,
        "timeout": 1.0,
        "backoff": 0.05,
        "max_backoff": 0.2,
        "max_attempts": 4,
        "max_configs_per_task": 3,
        "signing": True,
    }
    config = write_config(tmp_path_factory.mktemp("push") / "gateway.yaml", {"push": push})
    args = ["--keepalive", "1"]
    for name, key in API_KEYS.items():
        args += ["--api-key-hash", f"{name}={hashlib.sha256(key.encode()).hexdigest()}"]
    process = start_gateway({"scripted": scripted_agent.address}, *args, config=config)
    yield process
    process.stop()


def name() -> str:
    return uuid.uuid4().hex[:8]


def rpc(gateway: Process, method: str, params: dict[str, Any], who: str = "alice") -> Any:
    return a2a.rpc(gateway.address + "/", method, params, headers=api_key(who))


def send(gateway: Process, text: str, push: dict[str, Any], **config: Any) -> dict[str, Any]:
    params = {
        "message": a2a.user_message(text),
        "configuration": {"taskPushNotificationConfig": push, **config},
    }
    body = rpc(gateway, "SendMessage", params)
    assert "result" in body, body
    task: dict[str, Any] = body["result"]["task"]
    return task


def test_every_event_arrives_once_in_order_with_ids_and_credentials(
    push_gateway: Process, receiver: Receiver
) -> None:
    path = f"/ok/{name()}"
    push = {
        "url": receiver.url(path),
        "token": "tok-1",
        "authentication": {"scheme": "Bearer", "credentials": "secret-1"},
    }
    task = send(push_gateway, "steps 3", push)
    hits = receiver.wait_terminal(path)
    ids = [h.event_id for h in hits]
    assert ids == list(range(1, len(ids) + 1))
    assert len(ids) == 8  # task, 3 progress, 3 chunks, completed
    assert state_of(hits[0].json) == "TASK_STATE_SUBMITTED"
    assert hits[-1].json["statusUpdate"]["taskId"] == task["id"]
    for hit in hits:
        assert hit.headers["content-type"] == "application/a2a+json"
        assert hit.headers["authorization"] == "Bearer secret-1"
        assert hit.headers[TOKEN_HEADER] == "tok-1"
    # the same bodies as the stream's events
    replay = a2a.stream(
        push_gateway.address + "/",
        "SubscribeToTask",
        {"id": task["id"]},
        headers={**api_key("alice"), "Last-Event-ID": "0"},
    )
    assert [e.result for e in replay] == [h.json for h in hits]
    assert [int(e.id or 0) for e in replay] == ids


def test_a_failing_receiver_gets_retries_then_the_rest_in_order(
    push_gateway: Process, receiver: Receiver
) -> None:
    path = f"/fail/2/{name()}"
    send(push_gateway, "steps 2", {"url": receiver.url(path)})
    hits = receiver.wait_terminal(path)
    ids = [h.event_id for h in hits]
    assert ids[:3] == [1, 1, 1]  # 500, 500, then 200
    assert ids[2:] == list(range(1, len(ids) - 1))
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits[:3])]
    assert all(gap > 0 for gap in gaps)


def test_retry_after_is_honoured(push_gateway: Process, receiver: Receiver) -> None:
    path = f"/busy/1/{name()}"  # the gateway's own backoff here is 0.05 s
    send(push_gateway, "steps 1", {"url": receiver.url(path)})
    hits = receiver.wait_terminal(path)
    assert [h.event_id for h in hits[:2]] == [1, 1]
    assert hits[1].at - hits[0].at >= 0.9  # waited as asked (1 s), not 0.05 s


def test_a_hanging_receiver_delays_only_its_own_config(
    push_gateway: Process, receiver: Receiver
) -> None:
    hang, ok = f"/hang/{name()}", f"/ok/{name()}"
    task = send(push_gateway, "steps 2", {"url": receiver.url(hang)})  # blocking: completes
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    created = rpc(
        push_gateway,
        "CreateTaskPushNotificationConfig",
        {"taskId": task["id"], "url": receiver.url(ok)},
    )
    assert created["result"]["deliveryStatus"]["state"] == "active", created
    hits = receiver.wait_terminal(ok)
    assert len(hits) == 1  # the snapshot of the finished task
    assert terminal(hits[0].json)
    assert hits[0].event_id == 7
    assert [h.event_id for h in receiver.at(hang)] == [1]  # still waiting on event 1
    listed = rpc(push_gateway, "ListTaskPushNotificationConfigs", {"taskId": task["id"]})
    states = {c["url"]: c["deliveryStatus"]["state"] for c in listed["result"]["configs"]}
    assert states == {receiver.url(hang): "active", receiver.url(ok): "done"}


def test_a_permanent_refusal_marks_the_config_failing(
    push_gateway: Process, receiver: Receiver
) -> None:
    path = f"/status/404/{name()}"
    task = send(push_gateway, "steps 1", {"url": receiver.url(path), "id": "hook"})
    ref = {"taskId": task["id"], "id": "hook"}

    def failing() -> bool:
        config = rpc(push_gateway, "GetTaskPushNotificationConfig", ref)["result"]
        return bool(config["deliveryStatus"]["state"] == "failing")

    receiver.wait_for(failing, what="the config marked failing")
    config = rpc(push_gateway, "GetTaskPushNotificationConfig", ref)["result"]
    failure = config["deliveryStatus"]["failure"]
    assert failure["reason"] == "HTTP_STATUS"
    assert failure["httpStatus"] == 404
    assert failure["eventId"] == 1
    assert len(receiver.at(path)) == 1  # no retry of a 404
    assert "secret" not in push_gateway.output()
    log = [line for line in push_gateway.output().splitlines() if "is failing" in line]
    assert any(task["id"] in line and "webhook http://127.0.0.1:" in line for line in log)
    assert not any("/status/404" in line for line in log)  # scheme and host only
    metrics = httpx.get(push_gateway.address + "/metrics", timeout=10).text
    assert 'a2a_push_configs_failed_total{reason="HTTP_STATUS"}' in metrics
    assert 'a2a_push_attempts_total{result="4xx"}' in metrics
    assert 'a2a_push_deliveries_total{outcome="failed"}' in metrics
    assert "a2a_push_attempt_duration_seconds_count" in metrics


def test_signed_requests_verify_with_the_published_jwks(
    push_gateway: Process, receiver: Receiver
) -> None:
    path = f"/ok/{name()}"
    send(push_gateway, "steps 1", {"url": receiver.url(path)})
    hits = receiver.wait_terminal(path)
    jwks = httpx.get(push_gateway.address + "/.well-known/jwks.json", timeout=10).json()
    keys = jwt.PyJWKSet.from_dict(jwks)
    for hit in hits:
        token = hit.headers["x-a2a-notification-signature"]
        kid = jwt.get_unverified_header(token)["kid"]
        key = next(k for k in keys.keys if k.key_id == kid)
        claims = jwt.decode(
            token, key.key, algorithms=["ES256", "RS256"], audience=receiver.url(path)
        )
        assert claims["request_body_sha256"] == hashlib.sha256(hit.body).hexdigest()
        assert claims["eventId"] == hit.event_id


def test_config_methods_create_get_list_delete(push_gateway: Process, receiver: Receiver) -> None:
    task = send(push_gateway, "steps 1", {"url": receiver.url(f"/ok/{name()}"), "id": "first"})
    task_id = task["id"]
    created = rpc(
        push_gateway,
        "CreateTaskPushNotificationConfig",
        {"taskId": task_id, "url": receiver.url(f"/ok/{name()}"), "token": "t"},
    )["result"]
    assert created["taskId"] == task_id
    assert created["id"]
    assert created["token"] == "t"
    got = rpc(
        push_gateway, "GetTaskPushNotificationConfig", {"taskId": task_id, "id": created["id"]}
    )
    assert got["result"]["url"] == created["url"]
    listed = rpc(push_gateway, "ListTaskPushNotificationConfigs", {"taskId": task_id})["result"]
    assert sorted(c["id"] for c in listed["configs"]) == sorted(["first", created["id"]])
    deleted = rpc(
        push_gateway, "DeleteTaskPushNotificationConfig", {"taskId": task_id, "id": "first"}
    )
    assert deleted["result"] is None
    again = rpc(
        push_gateway, "DeleteTaskPushNotificationConfig", {"taskId": task_id, "id": "first"}
    )
    assert again["result"] is None  # idempotent
    listed = rpc(push_gateway, "ListTaskPushNotificationConfigs", {"taskId": task_id})["result"]
    assert [c["id"] for c in listed["configs"]] == [created["id"]]


def test_config_errors_are_precise(push_gateway: Process, receiver: Receiver) -> None:
    url = receiver.url(f"/ok/{name()}")
    task_id = send(push_gateway, "steps 1", {"url": url})["id"]
    missing = rpc(push_gateway, "CreateTaskPushNotificationConfig", {"taskId": "nope", "url": url})
    assert missing["error"]["code"] == -32001
    other = rpc(push_gateway, "ListTaskPushNotificationConfigs", {"taskId": task_id}, who="bob")
    assert other["error"]["code"] == -32001
    unknown = rpc(push_gateway, "GetTaskPushNotificationConfig", {"taskId": task_id, "id": "x"})
    assert unknown["error"]["code"] == -32001
    assert unknown["error"]["data"][0]["reason"] == "TASK_NOT_FOUND"
    assert unknown["error"]["data"][0]["metadata"]["configId"] == "x"
    malformed = rpc(
        push_gateway, "CreateTaskPushNotificationConfig", {"taskId": task_id, "url": "http://[nope"}
    )
    assert malformed["error"]["code"] == -32602
    assert malformed["error"]["data"][1]["fieldViolations"][0]["field"] == "url"
    no_url = rpc(push_gateway, "CreateTaskPushNotificationConfig", {"taskId": task_id})
    assert no_url["error"]["data"][1]["fieldViolations"][0]["field"] == "url"
    for index in range(2):
        created = rpc(
            push_gateway,
            "CreateTaskPushNotificationConfig",
            {"taskId": task_id, "url": url, "id": f"c{index}"},
        )
        assert "result" in created, created
    too_many = rpc(
        push_gateway, "CreateTaskPushNotificationConfig", {"taskId": task_id, "url": url}
    )
    assert too_many["error"]["code"] == -32602
    assert too_many["error"]["data"][0]["reason"] == "TOO_MANY_PUSH_CONFIGS"
    replaced = rpc(
        push_gateway,
        "CreateTaskPushNotificationConfig",
        {"taskId": task_id, "url": url, "id": "c0"},
    )
    assert "result" in replaced  # the same id replaces, within the limit


def test_v03_push_config_methods(push_gateway: Process, receiver: Receiver) -> None:
    url = receiver.url(f"/ok/{name()}")
    task_id = send(push_gateway, "steps 1", {"url": url})["id"]
    endpoint = push_gateway.address + "/"

    def call03(method: str, params: dict[str, Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return httpx.post(endpoint, json=body, headers=api_key("alice"), timeout=30).json()

    auth = {"schemes": ["Bearer"], "credentials": "c"}
    created = call03(
        "tasks/pushNotificationConfig/set",
        {"taskId": task_id, "pushNotificationConfig": {"url": url, "authentication": auth}},
    )["result"]
    assert created["taskId"] == task_id
    assert created["pushNotificationConfig"]["id"] == task_id  # as the v0.3 SDKs do
    assert created["pushNotificationConfig"]["authentication"] == auth
    got = call03("tasks/pushNotificationConfig/get", {"id": task_id})["result"]
    assert got["pushNotificationConfig"]["url"] == url
    listed = call03("tasks/pushNotificationConfig/list", {"id": task_id})["result"]
    assert len(listed) == 2
    assert all(c["taskId"] == task_id for c in listed)
    params = {"id": task_id, "pushNotificationConfigId": task_id}
    assert call03("tasks/pushNotificationConfig/delete", params)["result"] is None
    refused = {"taskId": task_id, "pushNotificationConfig": {"url": "gopher://127.0.0.1/"}}
    error = call03("tasks/pushNotificationConfig/set", refused)["error"]
    assert error["code"] == -32602
    missing = call03("tasks/pushNotificationConfig/get", {"id": "nope"})["error"]
    assert missing["code"] == -32001
    unknown = call03("tasks/pushNotificationConfig/get", {"id": task_id})["error"]
    assert unknown["code"] == -32001  # deleted above
    no_schemes = {"taskId": task_id, "pushNotificationConfig": {"url": url, "authentication": {}}}
    error = call03("tasks/pushNotificationConfig/set", no_schemes)["error"]
    assert error["data"][1]["fieldViolations"][0]["field"] == (
        "pushNotificationConfig.authentication.schemes"
    )


def test_the_card_says_push_notifications(push_gateway: Process) -> None:
    card = httpx.get(push_gateway.address + "/.well-known/agent-card.json", timeout=10).json()
    assert card["capabilities"]["pushNotifications"] is True


def test_a_deleted_config_gets_no_more_notifications(
    push_gateway: Process, receiver: Receiver
) -> None:
    path = f"/ok/{name()}"
    task = send(
        push_gateway, "steps 30 50", {"url": receiver.url(path), "id": "d"}, returnImmediately=True
    )
    receiver.wait_for(lambda: len(receiver.at(path)) >= 2, what="two deliveries")
    rpc(push_gateway, "DeleteTaskPushNotificationConfig", {"taskId": task["id"], "id": "d"})
    after_delete = len(receiver.at(path))
    other = f"/ok/{name()}"
    rpc(
        push_gateway,
        "CreateTaskPushNotificationConfig",
        {"taskId": task["id"], "url": receiver.url(other)},
    )
    receiver.wait_terminal(other)  # the task has finished
    assert len(receiver.at(path)) <= after_delete + 1  # at most the one in flight
    assert not any(terminal(h.json) for h in receiver.at(path))


def test_with_push_off_the_methods_are_not_supported(scripted_agent: Process) -> None:
    process = start_gateway({"scripted": scripted_agent.address}, "--no-push")
    try:
        endpoint = process.address + "/"
        error = a2a.rpc(endpoint, "ListTaskPushNotificationConfigs", {"taskId": "x"})["error"]
        assert error["code"] == -32003
        inline = a2a.rpc(
            endpoint,
            "SendMessage",
            {
                "message": a2a.user_message("steps 1"),
                "configuration": {"taskPushNotificationConfig": {"url": "https://example.com/"}},
            },
        )
        assert inline["error"]["code"] == -32003
        card = httpx.get(endpoint + ".well-known/agent-card.json", timeout=10).json()
        assert card["capabilities"]["pushNotifications"] is False
    finally:
        process.stop()


def test_creating_a_failing_config_again_resumes_from_the_event_that_failed(
    push_gateway: Process, receiver: Receiver
) -> None:
    refused, fixed = f"/status/410/{name()}", f"/ok/{name()}"
    task = send(push_gateway, "steps 1", {"url": receiver.url(refused), "id": "again"})
    ref = {"taskId": task["id"], "id": "again"}

    def state() -> str:
        config = rpc(push_gateway, "GetTaskPushNotificationConfig", ref)["result"]
        return str(config["deliveryStatus"]["state"])

    receiver.wait_for(lambda: state() == "failing", what="the config failing")
    params = {**ref, "url": receiver.url(fixed)}
    created = rpc(push_gateway, "CreateTaskPushNotificationConfig", params)["result"]
    assert created["deliveryStatus"]["state"] == "active"
    hits = receiver.wait_terminal(fixed)
    assert [h.event_id for h in hits] == list(range(1, 7))
    receiver.wait_for(lambda: state() == "done", what="the config done")


def test_rest_push_config_routes(push_gateway: Process, receiver: Receiver) -> None:
    path = f"/ok/{name()}"
    task_id = send(push_gateway, "steps 1", {"url": receiver.url(f"/ok/{name()}")})["id"]
    base = f"{push_gateway.address}/tasks/{task_id}/pushNotificationConfigs"
    headers = {**api_key("alice"), **a2a.V1}
    created = httpx.post(base, json={"url": receiver.url(path), "id": "r"}, headers=headers)
    assert created.status_code == 200, created.text
    assert created.json()["id"] == "r"
    got = httpx.get(base + "/r", headers=headers)
    assert got.json()["url"] == receiver.url(path)
    assert len(httpx.get(base, headers=headers).json()["configs"]) == 2
    assert httpx.delete(base + "/r", headers=headers).status_code == 200
    missing = httpx.get(base + "/r", headers=headers)
    assert missing.status_code == 404
    refused = httpx.post(base, json={"url": "gopher://127.0.0.1/"}, headers=headers)
    assert refused.status_code == 400
    other = httpx.get(base, headers={**api_key("bob"), **a2a.V1})
    assert other.status_code == 404
