"""Operating the gateway: /metrics, structured logs, and the drain on SIGTERM (real processes)."""

from __future__ import annotations

import hashlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.ops.metrics import Metrics
from tests import a2a
from tests.conftest import bearer, make_token
from tests.servers import Process, start_gateway
from tests.test_auth import metric


def test_each_metrics_object_has_its_own_registry() -> None:
    one, two = Metrics(["GetTask"]), Metrics(["GetTask"])
    one.request("GetTask", 0)
    one.request("NoSuchMethod", -32601)
    assert b'a2a_jsonrpc_requests_total{code="0",method="GetTask"} 1.0' in one.exposition()
    assert b'method="other"' in one.exposition()
    assert b"a2a_jsonrpc_requests_total{" not in two.exposition()


def test_metrics_show_streams_events_requests_and_upstream_calls(gateway: Process) -> None:
    base = gateway.address
    before = {
        name: metric(base, name) for name in ("sse_connections_total", "sse_events_sent_total")
    }
    events = a2a.send_stream(base + "/agents/scripted/", "steps 2")
    assert metric(base, "sse_connections_total") - before["sse_connections_total"] == 1
    sent = metric(base, "sse_events_sent_total") - before["sse_events_sent_total"]
    assert sent == len(events)
    assert metric(base, "active_sse_connections") == 0
    assert metric(base, "sse_connection_duration_seconds_count") >= 1
    assert metric(base, "a2a_jsonrpc_requests_total", method="SendStreamingMessage", code="0") >= 1
    assert metric(base, "a2a_upstream_calls_total", agent="scripted", code="OK") >= 1
    assert metric(base, "a2a_task_turn_duration_seconds_count", state="COMPLETED") >= 1
    assert metric(base, "a2a_time_to_first_event_seconds_count", method="SendStreamingMessage") >= 1
    a2a.rpc(base + "/", "NoSuchMethod", {})
    assert metric(base, "a2a_jsonrpc_requests_total", method="other", code="-32601") >= 1
    assert metric(base, "a2a_tasks_running") == 0


@pytest.fixture(scope="module")
def metrics_behind_auth(scripted_agent: Process) -> Iterator[Process]:
    digest = hashlib.sha256(b"ops-key-123").hexdigest()
    process = start_gateway(
        {"scripted": scripted_agent.address}, "--metrics", "auth", "--api-key-hash", f"ops={digest}"
    )
    yield process
    process.stop()


def test_metrics_can_be_put_behind_auth(metrics_behind_auth: Process) -> None:
    url = metrics_behind_auth.address + "/metrics"
    assert httpx.get(url, timeout=10).status_code == 401
    response = httpx.get(url, headers={"X-API-Key": "ops-key-123"}, timeout=10)
    assert response.status_code == 200
    assert "active_sse_connections" in response.text


def test_metrics_can_have_their_own_port(scripted_agent: Process) -> None:
    process = start_gateway({"scripted": scripted_agent.address}, "--metrics-port", "0")
    try:
        line = next(
            x for x in process.output().splitlines() if x.startswith("a2a-gateway metrics on ")
        )
        metrics_url = line.removeprefix("a2a-gateway metrics on ")
        assert httpx.get(metrics_url, timeout=10).status_code == 200
        assert httpx.get(metrics_url.replace("/metrics", "/healthz"), timeout=10).status_code == 404
        assert httpx.get(process.address + "/metrics", timeout=10).status_code == 404
    finally:
        process.stop()


def test_json_logs_carry_context_but_never_tokens_or_contents(scripted_agent: Process) -> None:
    secret_text = "the-launch-code-is-0000-zebra"
    token = make_token("logged-principal")
    digest = hashlib.sha256(b"log-api-key-secret-42").hexdigest()
    process = start_gateway(
        {"scripted": scripted_agent.address},
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "--api-key-hash",
        f"keyed={digest}",
    )
    try:
        url = process.address + "/agents/scripted/"
        a2a.rpc(
            url,
            "SendMessage",
            {"message": a2a.user_message(f"caller {secret_text}")},
            headers={"X-API-Key": "log-api-key-secret-42", "X-Request-ID": "req-log-1"},
        )
        key = {"X-API-Key": "log-api-key-secret-42"}
        a2a.stream(
            url,
            "SendStreamingMessage",
            {"message": a2a.user_message(f"reply {secret_text}")},
            headers=key,
        )
        refused = httpx.post(url, json={}, headers=bearer(token), timeout=10)
        assert refused.status_code == 401
        bad = f'{{"jsonrpc": "2.0", "id": 1, "method": "x", "params": "{secret_text}"}}'
        assert a2a.post(url, bad, **key).status_code == 200
    finally:
        assert process.stop() == 0
    output = process.output()
    assert secret_text not in output
    assert token not in output
    assert token.split(".")[1] not in output
    assert "log-api-key-secret-42" not in output
    lines = [json.loads(x) for x in output.splitlines() if x.startswith("{")]
    rpc = next(x for x in lines if x.get("request_id") == "req-log-1" and "method" in x)
    assert rpc["principal"] == "keyed"
    assert rpc["agent"] == "scripted"
    assert rpc["method"] == "SendMessage"
    assert rpc["code"] == 0
    assert {"ts", "level", "msg"} <= set(rpc)


def test_sigterm_drains_streams_lets_short_turns_finish_and_exits_0(
    scripted_agent: Process,
) -> None:
    grace = 3.0
    process = start_gateway(
        {"scripted": scripted_agent.address}, "--shutdown-grace", str(grace), "--keepalive", "5"
    )
    url = process.address + "/agents/scripted/"
    outcome: dict[str, Any] = {}

    def blocking_send() -> None:
        outcome["reply"] = a2a.rpc(url, "SendMessage", {"message": a2a.user_message("steps 4 250")})

    try:
        with (
            httpx.Client(timeout=httpx.Timeout(15.0)) as client,
            client.stream(
                "POST",
                url,
                json=a2a.request("SendStreamingMessage", {"message": a2a.user_message("hang")}),
                headers=a2a.V1,
            ) as response,
        ):
            chunks = response.iter_raw()
            received = b""
            while b"TASK_STATE_SUBMITTED" not in received:
                received += next(chunks)  # the retry hint may come in a chunk of its own
            sender = threading.Thread(target=blocking_send)
            sender.start()
            deadline = time.monotonic() + 10
            while len(a2a.rpc(url, "ListTasks", {})["result"]["tasks"]) < 2:
                assert time.monotonic() < deadline, "the blocking send's task never started"
                time.sleep(0.02)
            stopping = time.monotonic()
            process.popen.send_signal(signal.SIGTERM)
            for chunk in chunks:  # ends when the gateway closes the stream
                received += chunk
            closed_after = time.monotonic() - stopping
        sender.join(15)
        code = process.popen.wait(grace + 10)
        exited_after = time.monotonic() - stopping
    finally:
        process.stop(signal.SIGKILL)
    assert received.endswith(b"retry: 1000\n"), received[-200:]
    assert closed_after < 2  # told at once, not after the grace period
    assert outcome["reply"]["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert code == 0, process.output()
    assert exited_after < grace + 3
