"""One agent behind the gateway: its gRPC channel, its description and its health.

Channel: one per agent, reused by every call, plaintext or TLS (`AgentSpec.tls`). Several
targets are balanced with gRPC's `round_robin` policy over a static address list (host names
are resolved once, at start); round robin only picks connected targets that pass gRPC
client-side health checking, so a target that is down or NOT_SERVING gets no calls while
the others serve. grpc reconnects by itself (backoff 0.2 s growing to 2 s), so an agent that
comes back is used again without a restart.

Failing fast: calls use `wait_for_ready=False`, and `connect()` bounds the wait for a
connection by `connect_timeout`, so a call to an agent that is down fails within about that
time with AGENT_UNAVAILABLE instead of waiting for TCP timeouts.

Health: one `Probe` per target watches it with the gRPC health protocol (see gateway.health).
`describe()` caches the agent's AgentDescription; a failure is not cached.

Memory per open call: the calls' channel runs gRPC's minimal filter stack
(`grpc.minimal_stack`, a documented channel argument): each call then carries fewer filters'
state in the C core, about 1.5 KB less per open Run call (`make bench`, idle streams). Of
the filters it leaves out, one matters to us, the message-size check, so the gateway makes it
itself: Run and Describe hand over their messages as bytes, and `event()` / `describe()`
refuse one over MAX_MESSAGE_BYTES with the error the filter gave (RESOURCE_EXHAUSTED,
"Received message larger than max"), before parsing it. Deadlines, keep-alives, compression
and health checking do not depend on those filters; retries are off anyway.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError

from gateway.agents.health import SERVING, Probe
from gateway.core import errors
from gateway.ops.settings import AgentSpec, TlsSpec, split_target
from generated import task_service_pb2 as pb

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # the largest message taken from an agent
_BASE_OPTIONS: list[tuple[str, str | int]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Keep-alive pings no more often than a default gRPC server accepts (every 5 minutes):
    # faster pings on a quiet call make servers answer GOAWAY "too_many_pings", which failed
    # every turn that stayed silent for about 90 s.
    ("grpc.keepalive_time_ms", 300_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    # No transparent retries: a Run call is never retried by gRPC (a turn must not run twice
    # behind the bridge's back), and without them the C core keeps no copy of each call's
    # messages for a retry: about 6 KB less per open call (`make bench`, idle streams).
    ("grpc.enable_retries", 0),
]
PROBE_BACKOFF = 0.5
_PROBE_OPTIONS: list[tuple[str, str | int]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),  # the calls' channel: connect_timeout
    ("grpc.max_reconnect_backoff_ms", int(PROBE_BACKOFF * 1000)),
]
_SERVICE = pb.DESCRIPTOR.services_by_name["TaskService"]
RUN = f"/{_SERVICE.full_name}/Run"  # the method paths, as the generated stub has them
DESCRIBE = f"/{_SERVICE.full_name}/Describe"
_CALL_OPTIONS = [("grpc.minimal_stack", 1)]  # the calls' channel only; see the docstring


Parsed = TypeVar("Parsed", pb.AgentEvent, pb.AgentDescription)


def _rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


def _parsed(kind: type[Parsed], data: bytes) -> Parsed:
    """A message of the agent's, checked and parsed. Over MAX_MESSAGE_BYTES: the AioRpcError
    gRPC's message-size filter raised (RESOURCE_EXHAUSTED); bytes that do not parse: an
    INTERNAL one. Every caller already handles AioRpcError."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise _rpc_error(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"Received message larger than max ({len(data)} vs. {MAX_MESSAGE_BYTES})",
        )
    try:
        return kind.FromString(data)
    except DecodeError:
        name = kind.DESCRIPTOR.name
        raise _rpc_error(grpc.StatusCode.INTERNAL, f"a {name} that does not parse") from None


def event(data: bytes | object) -> Any:
    """The AgentEvent of a message read from a Run call (`Upstream.run`), or EOF as it is;
    raises AioRpcError (see `_parsed`), and the caller cancels the call."""
    if data is grpc.aio.EOF:
        return data
    assert isinstance(data, bytes)
    return _parsed(pb.AgentEvent, data)


_SERVICE_CONFIG = json.dumps(
    {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}
)
_CONNECTING = (grpc.ChannelConnectivity.IDLE, grpc.ChannelConnectivity.CONNECTING)


def channel_credentials(tls: TlsSpec) -> grpc.ChannelCredentials:
    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return grpc.ssl_channel_credentials(
        root_certificates=read(tls.ca_file),
        private_key=read(tls.key_file),
        certificate_chain=read(tls.cert_file),
    )


def balanced_target(targets: tuple[str, ...]) -> str:
    """A gRPC target naming every address of `targets` (one target is passed as it is)."""
    if len(targets) == 1:
        return targets[0]
    addresses: list[str] = []
    for target in targets:
        host, port = split_target(target)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
            addresses += [f"{info[4][0]}:{port}" for info in infos]
            continue
        addresses.append(f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}")
    v6 = [a for a in addresses if a.startswith("[")]
    if v6 and len(v6) != len(addresses):
        raise ValueError(f"targets {', '.join(targets)} mix IPv4 and IPv6 addresses")
    scheme = "ipv6" if v6 else "ipv4"
    return f"{scheme}:{','.join(dict.fromkeys(addresses))}"


class Upstream:
    """A named agent reachable at one or more gRPC targets."""

    def __init__(self, spec: AgentSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.deadline = spec.deadline
        self.connect_timeout = spec.connect_timeout
        options = [
            *_BASE_OPTIONS,
            ("grpc.min_reconnect_backoff_ms", int(spec.connect_timeout * 1000)),
        ]
        credentials = channel_credentials(spec.tls) if spec.tls is not None else None
        if spec.tls is not None:
            # The host written in the configuration is the name checked in the certificate,
            # also when several targets make the channel dial bare addresses.
            server_name = spec.tls.server_name or split_target(spec.target)[0]
            options.append(("grpc.ssl_target_name_override", server_name))
        self.channel = self._channel(
            balanced_target(spec.targets),
            credentials,
            [*options, *_CALL_OPTIONS, ("grpc.service_config", _SERVICE_CONFIG)],
        )
        # Run takes its request already serialized: an open call then holds bytes, not the
        # message tree of the whole history (the bridge serializes it once). Its messages
        # come as bytes too, for `event()` to check their size and parse them.
        self.run: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = self.channel.unary_stream(
            RUN, request_serializer=None, response_deserializer=None
        )
        self._describe: grpc.aio.UnaryUnaryMultiCallable[pb.DescribeRequest, bytes] = (
            self.channel.unary_unary(
                DESCRIBE,
                request_serializer=pb.DescribeRequest.SerializeToString,
                response_deserializer=None,
            )
        )
        # Probes retry faster than calls (reconnects at most 0.5 s apart, a Watch at most
        # every 0.5 s), so readiness follows an agent's return within about a second.
        overridden = {key for key, _ in _PROBE_OPTIONS}
        probing = [*(o for o in options if o[0] not in overridden), *_PROBE_OPTIONS]
        self.probes = [
            Probe(t, self._channel(t, credentials, probing), max_backoff=PROBE_BACKOFF)
            for t in spec.targets
        ]
        self._description: pb.AgentDescription | None = None
        self._describing = asyncio.Lock()

    @staticmethod
    def _channel(
        target: str,
        credentials: grpc.ChannelCredentials | None,
        options: list[tuple[str, str | int]],
    ) -> grpc.aio.Channel:
        if credentials is None:
            return grpc.aio.insecure_channel(target, options=options)
        return grpc.aio.secure_channel(target, credentials, options=options)

    def __repr__(self) -> str:
        tls = "tls" if self.spec.tls else "plaintext"
        return f"<Upstream {self.name} targets={','.join(self.spec.targets)} {tls}>"

    def start(self) -> None:
        """Start watching every target's health (needs a running event loop)."""
        for probe in self.probes:
            probe.start()

    async def connect(self) -> None:
        """Return when a call can go out now: the channel is READY, or in TRANSIENT_FAILURE
        (a call then fails at once with gRPC's reason). Raise AGENT_UNAVAILABLE when no
        connection is made within `connect_timeout` seconds."""
        state = self.channel.get_state(try_to_connect=True)
        if state not in _CONNECTING:
            return
        try:
            async with asyncio.timeout(self.connect_timeout):
                while state in _CONNECTING:
                    await self.channel.wait_for_state_change(state)
                    state = self.channel.get_state(try_to_connect=True)
        except TimeoutError:
            raise errors.agent_unavailable(
                self.name,
                f"no connection to {', '.join(self.spec.targets)} within "
                f"{self.connect_timeout:g} s",
            ) from None

    async def describe(self, timeout: float = 5.0) -> pb.AgentDescription:
        """The agent's description, fetched once. Raises A2AError when it cannot be reached."""
        if self._description is not None:
            return self._description
        async with self._describing:
            if self._description is None:
                await self.connect()
                try:
                    data = await self._describe(
                        pb.DescribeRequest(), timeout=timeout, wait_for_ready=False
                    )
                    self._description = _parsed(pb.AgentDescription, data)
                except grpc.aio.AioRpcError as exc:
                    raise errors.from_grpc(exc, self.name, hint=self.hint(exc)) from None
            return self._description

    def hint(self, error: grpc.aio.AioRpcError) -> str:
        """A likely cause of a connection the agent closed, from our TLS settings."""
        if error.code() != grpc.StatusCode.UNAVAILABLE or "Socket closed" not in (
            error.details() or ""
        ):
            return ""
        if self.spec.tls is None:
            return " (the gateway connects in plaintext: if the agent serves TLS, configure tls)"
        if self.spec.tls.cert_file is None:
            return " (if the agent requires a client certificate, set tls.cert_file/key_file)"
        return ""

    @property
    def description(self) -> pb.AgentDescription | None:
        """The cached description, if `describe()` succeeded once."""
        return self._description

    def health(self) -> dict[str, object]:
        """`{"status": ..., "targets": {target: status}}`: SERVING when any target serves,
        else the first target's status."""
        targets = {p.target: p.status for p in self.probes}
        statuses = list(targets.values())
        status = SERVING if SERVING in statuses else statuses[0]
        return {"status": status, "targets": targets}

    async def checked(self, timeout: float) -> None:
        """Wait (at most `timeout` s) until every target has had a first health answer."""
        waits = [asyncio.create_task(p.checked.wait()) for p in self.probes]
        _, pending = await asyncio.wait(waits, timeout=timeout)
        for task in pending:
            task.cancel()

    async def close(self) -> None:
        for probe in self.probes:
            await probe.close()
        await self.channel.close()
