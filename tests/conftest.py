"""Shared fixtures: real agent processes and a real gateway on 127.0.0.1."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from tests.servers import Process, start_agent, start_gateway

SECRET = b"test-secret-0123456789abcdef-0123456789"
AUDIENCE = "a2a-gateway-tests"
ISSUER = "https://issuer.test"
API_KEYS = {"alice": "alice-Key-0123456789", "bob": "bob-Key-9876543210"}


def make_token(
    sub: str = "carol", *, key: Any = SECRET, algorithm: str = "HS256", **claims: Any
) -> str:
    """A token the auth gateway accepts, unless `claims` or `key` say otherwise."""
    now = int(time.time())
    payload = {"sub": sub, "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + 300, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=algorithm)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_key(principal: str) -> dict[str, str]:
    return {"X-API-Key": API_KEYS[principal]}


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def scripted_agent() -> Iterator[Process]:
    agent = start_agent("tests.agents.scripted")
    yield agent
    agent.stop()


@pytest.fixture(scope="session")
def gateway(scripted_agent: Process) -> Iterator[Process]:
    """A gateway fronting the scripted test agent (also served at the root)."""
    process = start_gateway({"scripted": scripted_agent.address}, "--keepalive", "1")
    yield process
    process.stop()


@pytest.fixture(scope="session")
def auth_gateway(
    scripted_agent: Process, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    """A gateway with auth on: HS256 JWTs (SECRET, AUDIENCE, ISSUER) and alice's and bob's
    API keys."""
    secret = tmp_path_factory.mktemp("auth") / "hs256.secret"
    secret.write_bytes(SECRET + b"\n")
    args = ["--keepalive", "1", "--jwt-hs256-secret-file", str(secret)]
    args += ["--jwt-audience", AUDIENCE, "--jwt-issuer", ISSUER]
    for name, key in API_KEYS.items():
        args += ["--api-key-hash", f"{name}={hashlib.sha256(key.encode()).hexdigest()}"]
    process = start_gateway({"scripted": scripted_agent.address}, *args)
    yield process
    process.stop()
