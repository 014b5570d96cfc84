"""TLS and mTLS to agents, by configuration, with certificates made for the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import grpc
import httpx
import pytest

from agent_runtime import AgentInfo, AgentServer, TaskContext
from tests import a2a
from tests.certs import Authority
from tests.servers import Process, start_gateway, write_config

pytestmark = pytest.mark.anyio


async def handler(ctx: TaskContext) -> None:
    await ctx.progress(50, "encrypted")
    await ctx.complete(f"secure hello from {ctx.caller.principal}")


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """A TLS agent and an mTLS agent (certificates for 127.0.0.1 and agent.internal)."""
    ca = Authority(tmp_path, "ca")
    Authority(tmp_path, "other-ca")  # a CA that signed nothing the agents use
    server = ca.issue("server", hosts=["agent.internal", "127.0.0.1", "localhost"])
    ca.issue("client", hosts=["gateway"], client=True)
    tls = grpc.ssl_server_credentials([server.read()])
    mtls = grpc.ssl_server_credentials(
        [server.read()], root_certificates=ca.ca_file.read_bytes(), require_client_auth=True
    )
    info = AgentInfo(name="secure", description="TLS only")
    async with (
        AgentServer(handler, info=info, credentials=tls) as tls_agent,
        AgentServer(handler, info=info, credentials=mtls) as mtls_agent,
    ):
        yield {
            "ca": ca,
            "tls": tls_agent.address,
            "mtls": mtls_agent.address,
        }


async def _gateway(tmp_path: Path, agents: list[dict[str, Any]]) -> Process:
    path = write_config(tmp_path / "gateway.yaml", {"agents": agents})
    return await anyio.to_thread.run_sync(lambda: start_gateway({}, config=path))


async def _send(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    request = a2a.request("SendMessage", {"message": a2a.user_message("hi")})
    response = await client.post(url, json=request, headers=a2a.V1)
    body: dict[str, Any] = response.json()
    return body


async def test_tls_and_mtls_agents_serve_through_the_gateway(
    servers: dict[str, Any], tmp_path: Path
) -> None:
    ca = servers["ca"]
    port = servers["tls"].rsplit(":", 1)[1]
    gateway = await _gateway(
        tmp_path,
        [
            {"name": "tls", "target": servers["tls"], "tls": {"ca_file": str(ca.ca_file)}},
            {
                # the certificate names agent.internal; we dial localhost
                "name": "renamed",
                "target": f"localhost:{port}",
                "tls": {"ca_file": "ca.pem", "server_name": "agent.internal"},
            },
            {
                "name": "mtls",
                "target": servers["mtls"],
                "tls": {"ca_file": "ca.pem", "cert_file": "client.pem", "key_file": "client.key"},
            },
        ],
    )
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            for name in ("tls", "renamed", "mtls"):
                body = await _send(http, f"{gateway.address}/agents/{name}/")
                task = body["result"]["task"]
                assert task["status"]["state"] == "TASK_STATE_COMPLETED", (name, body)
                text = task["status"]["message"]["parts"][0]["text"]
                assert text == "secure hello from anonymous"
            ready = await http.get(f"{gateway.address}/readyz")
            assert ready.status_code == 200, ready.text
    finally:
        gateway.stop()


async def test_wrong_tls_settings_are_a_clear_error(
    servers: dict[str, Any], tmp_path: Path
) -> None:
    gateway = await _gateway(
        tmp_path,
        [
            {"name": "plaintext", "target": servers["tls"]},
            {"name": "wrong-ca", "target": servers["tls"], "tls": {"ca_file": "other-ca.pem"}},
            {"name": "no-client-cert", "target": servers["mtls"], "tls": {"ca_file": "ca.pem"}},
        ],
    )
    try:
        messages: dict[str, str] = {}
        async with httpx.AsyncClient(timeout=30) as http:
            for name in ("plaintext", "wrong-ca", "no-client-cert"):
                with anyio.fail_after(10):
                    body = await _send(http, f"{gateway.address}/agents/{name}/")
                error = body["error"]
                assert error["code"] == -32603, (name, body)
                assert error["data"][0]["reason"] == "AGENT_UNAVAILABLE"
                assert name in error["message"]
                messages[name] = error["message"]
            ready = (await http.get(f"{gateway.address}/readyz")).json()
            assert ready["status"] == "unavailable"
    finally:
        gateway.stop()
    assert "if the agent serves TLS, configure tls" in messages["plaintext"]
    assert "CERTIFICATE_VERIFY_FAILED" in messages["wrong-ca"]
    assert "tls.cert_file" in messages["no-client-cert"]
