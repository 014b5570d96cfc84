"""Shared fixtures: real agent processes, a real gateway, a private redis-server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_server import RedisServer, start_redis
from tests.servers import Process, start_agent, start_gateway


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
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the whole session (tests isolate by key prefix)."""
    try:
        server = start_redis()
    except LookupError as exc:
        pytest.skip(str(exc))
    yield server
    server.close()
