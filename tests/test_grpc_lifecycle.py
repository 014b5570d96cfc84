"""The gRPC binding's lifecycle in a real gateway process: configured by file, refused when
its port is taken, and at SIGTERM open gRPC streams end at once with UNAVAILABLE
SHUTTING_DOWN (the client resumes by event id), the process exiting 0."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest
from a2a.types import a2a_pb2 as pb

from gateway.bindings.grpc.convert import event_id_of
from gateway.ops.config import ConfigError, load
from tests.certs import Authority
from tests.grpc_a2a import TIMEOUT, V1, failure, grpc_address, send_request, stub
from tests.servers import ROOT, Process, start_agent, start_gateway, write_config


def test_listen_grpc_port_in_the_config_file_turns_the_binding_on(tmp_path: Path) -> None:
    agent = start_agent("tests.agents.scripted")
    config = write_config(
        tmp_path / "gateway.yaml",
        {"listen": {"grpc_port": 0}, "agents": [{"name": "scripted", "target": agent.address}]},
    )
    gateway = start_gateway({}, config=config)
    try:
        address = grpc_address(gateway)
        card = httpx.get(f"{gateway.address}/.well-known/agent-card.json", timeout=TIMEOUT).json()
        [grpc_entry] = [i for i in card["supportedInterfaces"] if i["protocolBinding"] == "GRPC"]
        assert grpc_entry["url"] == address
        with grpc.insecure_channel(address) as channel:
            answer = stub(channel).SendMessage(  # type: ignore[arg-type]
                send_request("steps 1"), metadata=V1, timeout=TIMEOUT
            )
        assert answer.task.status.state == pb.TASK_STATE_COMPLETED
    finally:
        gateway.stop()
        agent.stop()


def test_a_grpc_port_in_use_is_refused_before_serving() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["serve", "--port", "0", "--agent", "a=127.0.0.1:9", "--grpc-port", str(port)]
        done = subprocess.run(
            [sys.executable, "-m", "gateway", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,  # a slow, shared machine: startup alone can take seconds
        )
    assert done.returncode == 1
    assert f"cannot listen for gRPC on 127.0.0.1:{port}" in done.stderr
    assert "listening on" not in done.stdout


def test_sigterm_ends_open_grpc_streams_with_unavailable(tmp_path: Path) -> None:
    agent = start_agent("tests.agents.scripted")
    gateway: Process = start_gateway(
        {"scripted": agent.address}, "--grpc-port", "0", "--shutdown-grace", "0.5"
    )
    try:
        with grpc.insecure_channel(grpc_address(gateway)) as channel:
            live = stub(channel).SendStreamingMessage(  # type: ignore[arg-type]
                send_request("hang"), metadata=V1, timeout=TIMEOUT
            )
            first = next(live)
            second = next(live)
            assert [event_id_of(first), event_id_of(second)] == [1, 2]
            gateway.popen.terminate()
            started = time.monotonic()
            try:
                rest = list(live)
            except grpc.RpcError as exc:
                got = failure(exc)  # type: ignore[arg-type]
            else:
                raise AssertionError(f"the stream ended cleanly after {rest}")
            assert time.monotonic() - started < TIMEOUT
        assert (got.code, got.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
        assert gateway.popen.wait(TIMEOUT) == 0
    finally:
        gateway.stop()
        agent.stop()


def test_server_reflection_describes_the_normative_service() -> None:
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    agent = start_agent("tests.agents.scripted")
    gateway = start_gateway({"scripted": agent.address}, "--grpc-port", "0")
    try:
        with grpc.insecure_channel(grpc_address(gateway)) as channel:
            database = ProtoReflectionDescriptorDatabase(channel)
            services = set(database.get_services())
            found = database.FindFileContainingSymbol("lf.a2a.v1.A2AService")
        assert "lf.a2a.v1.A2AService" in services
        methods = {m.name for m in found.service[0].method}
        assert {"SendMessage", "SendStreamingMessage", "SubscribeToTask"} <= methods
    finally:
        gateway.stop()
        agent.stop()


def test_grpc_over_tls_with_the_configured_certificate(tmp_path: Path) -> None:
    ca = Authority(tmp_path, "ca")
    server = ca.issue("gateway", hosts=["127.0.0.1", "localhost"])
    agent = start_agent("tests.agents.scripted")
    gateway = start_gateway(
        {"scripted": agent.address},
        *("--grpc-port", "0", "--grpc-cert-file", str(server.cert)),
        *("--grpc-key-file", str(server.key)),
    )
    try:
        assert "(TLS)" in gateway.output()
        address = grpc_address(gateway)
        trusted = grpc.ssl_channel_credentials(root_certificates=ca.ca_file.read_bytes())
        with grpc.secure_channel(address, trusted) as channel:
            answer = stub(channel).SendMessage(  # type: ignore[arg-type]
                send_request("steps 1"), metadata=V1, timeout=TIMEOUT
            )
        assert answer.task.status.state == pb.TASK_STATE_COMPLETED
        with grpc.insecure_channel(address) as plaintext, pytest.raises(grpc.RpcError) as caught:
            stub(plaintext).GetTask(  # type: ignore[arg-type]
                pb.GetTaskRequest(id="x"), metadata=V1, timeout=TIMEOUT
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        gateway.stop()
        agent.stop()


def test_a_grpc_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    server = Authority(tmp_path, "ca").issue("gateway", hosts=["127.0.0.1"])
    args = ["serve", "--port", "0", "--agent", "a=127.0.0.1:9", "--grpc-port", "0"]
    done = subprocess.run(
        [sys.executable, "-m", "gateway", *args, "--grpc-cert-file", str(server.cert)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,  # a slow, shared machine: startup alone can take seconds
    )
    assert done.returncode == 2
    assert "grpc_cert_file and grpc_key_file go together" in done.stderr


def test_several_workers_need_a_fixed_grpc_port(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "gateway.yaml",
        {
            "listen": {"grpc_port": 0, "workers": 2},
            "store": "redis://127.0.0.1:1/0",  # never connected to: validation only
            "agents": [{"name": "a", "target": "127.0.0.1:9"}],
        },
    )
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert "listen.grpc_port: with several workers, give a fixed port" in str(caught.value)
