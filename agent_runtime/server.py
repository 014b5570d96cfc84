"""`AgentServer`, `serve` and `run`: host a handler on a grpc.aio server.

The server carries the agent's `TaskService`, the standard gRPC health service
(SERVING for "" and for "a2a_bridge.v1.TaskService") and server reflection.

Tracing: `start()` turns it on when the `OTEL_*` environment says so (see tracing.py;
`service.name` defaults to the agent's name), `stop()` flushes it.

Lifecycle: `start()` binds (port 0 picks a free port, see `port`), starts, marks the
services SERVING and prints exactly one line to stdout, flushed, for launchers:
``AGENT <name> LISTENING <host>:<port>``. `stop()` first sets health NOT_SERVING,
then stops with `grace` seconds for calls in flight; calls still running after
that are cancelled. `run()` is the blocking entry point for agent processes: it
stops gracefully on SIGINT or SIGTERM and returns normally (exit status 0).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import TracebackType

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from agent_runtime import tracing
from agent_runtime.info import AgentInfo
from agent_runtime.service import SERVICE_NAME, Handler, TaskService
from generated import task_service_pb2_grpc as pb_grpc

logger = logging.getLogger("agent_runtime")

# gRPC's default is 4 MiB a message; a RunRequest carries the files of the message (and of
# the task's history), so allow what the gateway's default body limit (16 MiB) can carry.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class AgentServer:
    """A grpc.aio server for one agent; use as `async with AgentServer(...) as server`.

    Plaintext unless `credentials` (e.g. `grpc.ssl_server_credentials(...)`) are given.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        info: AgentInfo,
        host: str = "127.0.0.1",
        port: int = 0,
        grace: float = 5.0,
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.info = info
        self.credentials = credentials
        self.host = host
        self.grace = grace
        self._requested_port = port
        self._port: int | None = None
        self._service = TaskService(handler, info=info)
        self._health = health.aio.HealthServicer()
        self._server: aio.Server | None = None

    def __repr__(self) -> str:
        where = "stopped" if self._port is None else f"{self.host}:{self._port}"
        return f"<AgentServer agent={self.info.name!r} {where}>"

    @property
    def port(self) -> int:
        """The bound port; RuntimeError before `start()`."""
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def address(self) -> str:
        """`host:port` to dial (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Bind, start, mark SERVING and print the LISTENING line."""
        if self._server is not None:
            raise RuntimeError("the server is already started")
        server = aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ]
        )
        pb_grpc.add_TaskServiceServicer_to_server(self._service, server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        host = f"[{self.host}]" if ":" in self.host else self.host
        address = f"{host}:{self._requested_port}"
        if self.credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, self.credentials)
        if port == 0:
            raise RuntimeError(f"cannot bind {host}:{self._requested_port}")
        await server.start()
        tracing.setup(self.info.name)
        self._server, self._port = server, port
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        print(f"AGENT {self.info.name} LISTENING {self.host}:{port}", flush=True)
        logger.info("agent %s listening on %s", self.info.name, self.address)

    async def stop(self, grace: float | None = None) -> None:
        """Set health NOT_SERVING, then stop, giving calls in flight `grace` seconds."""
        if self._server is None:
            return
        await self._health.enter_graceful_shutdown()
        await self._server.stop(self.grace if grace is None else grace)
        tracing.shutdown()
        logger.info("agent %s stopped", self.info.name)

    async def wait(self) -> None:
        """Wait until the server has stopped."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        await self._server.wait_for_termination()

    async def __aenter__(self) -> AgentServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve(
    handler: Handler,
    *,
    info: AgentInfo,
    host: str = "127.0.0.1",
    port: int = 0,
    grace: float = 5.0,
) -> AgentServer:
    """Start an `AgentServer` and return it; the caller must `await server.stop()`."""
    server = AgentServer(handler, info=info, host=host, port=port, grace=grace)
    await server.start()
    return server


def run(
    handler: Handler,
    *,
    info: AgentInfo,
    host: str = "127.0.0.1",
    port: int = 0,
    grace: float = 5.0,
) -> None:
    """Serve `handler` until SIGINT or SIGTERM, then stop gracefully and return."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(
        _run_until_signal(AgentServer(handler, info=info, host=host, port=port, grace=grace))
    )


async def _run_until_signal(server: AgentServer) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    async with server:
        await stopping.wait()
        logger.info("agent %s stopping on signal", server.info.name)
