"""The gRPC server's lifecycle: started and stopped by the app's lifespan (http/app.py) when
`Settings.grpc_port` is set, on `Settings.host`.

It serves `lf.a2a.v1.A2AService` and server reflection (so `grpcurl` needs no proto file).
`start()` binds (port 0 picks a free one) and returns the bound port, which the Agent Cards
advertise. Shutdown: when the gateway drains, open streams end at once (service.py); `stop()`
then refuses new calls and gives calls in flight (a blocking SendMessage) `grace` seconds.
With `--workers`, every worker binds the same port (SO_REUSEPORT, only then), so give a fixed
port there; otherwise a port in use is refused, never silently shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from grpc_reflection.v1alpha import reflection

from gateway.bindings.grpc.service import SERVICE, Service

if TYPE_CHECKING:
    from gateway.http.app import Gateway

# Open streams may sit idle for long: no limit on a connection's age, pings allowed.
OPTIONS = (
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
)


class GrpcServer:
    """`lf.a2a.v1.A2AService` for one gateway."""

    def __init__(self, gateway: Gateway, host: str, port: int) -> None:
        self.service = Service(gateway)
        self.reuse_port = gateway.settings.workers > 1
        self.max_message = gateway.settings.max_body_bytes
        self.host = host
        self.port = port
        self.server: grpc.aio.Server | None = None

    def __repr__(self) -> str:
        return f"<GrpcServer {self.address} {self.service!r}>"

    @property
    def address(self) -> str:
        """`host:port` (IPv6 in brackets), as cards advertise it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def start(self) -> int:
        """Bind and serve; the bound port. Raises OSError when the port cannot be bound."""
        options = (
            *OPTIONS,
            ("grpc.so_reuseport", int(self.reuse_port)),
            # the HTTP bindings' body limit; grpcio refuses more with RESOURCE_EXHAUSTED
            ("grpc.max_receive_message_length", self.max_message),
        )
        server = grpc.aio.server(options=options)
        server.add_generic_rpc_handlers((self.service.handler(),))
        # grpcurl and friends can list and describe the service (a2a_pb2 is in the pool)
        reflection.enable_server_reflection((SERVICE, reflection.SERVICE_NAME), server)
        try:
            bound = server.add_insecure_port(self.address)
        except RuntimeError as exc:  # grpcio: "Failed to bind to address ..."
            raise OSError(f"cannot listen for gRPC on {self.address}: {exc}") from None
        if bound == 0:
            raise OSError(f"cannot listen for gRPC on {self.address}")
        self.port = bound
        await server.start()
        self.server = server
        return bound

    def drain(self) -> None:
        self.service.drain()

    async def stop(self, grace: float) -> None:
        self.service.drain()
        if self.server is not None:
            await self.server.stop(grace)
            self.server = None
