"""The SSRF guard: which webhook URLs the gateway may call, checked twice.

At config time (`check`): the URL must be absolute `https://` (or `http://` when allowed), with
no credentials in it, and its host must resolve; every address it resolves to must be public:
not loopback, private (RFC 1918, unique local), link-local (so no cloud metadata service at
169.254.169.254), shared (100.64/10), multicast, reserved or unspecified, including IPv4
addresses inside IPv6 (`::ffff:127.0.0.1`). One refused address refuses the URL.

At delivery time (`resolve`): the host is resolved again and checked again, and the request
is sent to the checked address itself (`pin`), so a name that resolves to a public address
at config time and to 127.0.0.1 a second later (DNS rebinding) never reaches 127.0.0.1. With
https the TLS server name and certificate check still use the host name.

`allow_hosts` lets trusted internal webhooks through: a host name there (exact, case
insensitive) is not checked; an address or CIDR network there allows addresses inside it,
whatever host resolved to them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


class Refused(Exception):
    """A webhook URL or address the guard does not allow; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked webhook URL: where to connect and what to call it."""

    url: str
    scheme: str
    host: str
    port: int
    address: str  # the checked address to connect to

    def pin(self) -> tuple[str, dict[str, str], dict[str, str]]:
        """(URL with the address as host, headers, httpx request extensions)."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        default = 443 if self.scheme == "https" else 80
        netloc = literal if self.port == default else f"{literal}:{self.port}"
        pinned = parts._replace(netloc=netloc).geturl()
        host_header = self.host if ":" not in self.host else f"[{self.host}]"
        if self.port != default:
            host_header += f":{self.port}"
        extensions = {"sni_hostname": self.host} if self.scheme == "https" else {}
        return pinned, {"Host": host_header}, extensions


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def kind_of(ip: IP) -> str | None:
    """Why an address is refused ("loopback", "private", ...), or None for a public one."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            return kind_of(embedded)
    if ip in METADATA:
        return "cloud metadata"
    for name in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    if not ip.is_global:
        return "non-public"
    return None


class Guard:
    """See the module docstring. `resolver` is for tests (default: the system's)."""

    def __init__(
        self,
        *,
        allow_hosts: Iterable[str] = (),
        allow_http: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        names: set[str] = set()
        networks: list[Network] = []
        for entry in allow_hosts:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry.lower().rstrip("."))
        self.names = frozenset(names)
        self.networks = tuple(networks)
        self.allow_http = allow_http
        self.resolver = resolver

    def __repr__(self) -> str:
        return (
            f"<Guard allow_names={sorted(self.names)} "
            f"allow_networks={[str(n) for n in self.networks]} http={self.allow_http}>"
        )

    def parse(self, url: str) -> SplitResult:
        """The URL's parts, or Refused for its shape (scheme, credentials, host, port)."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise Refused(f"is not a valid URL ({exc})") from None
        scheme = parts.scheme.lower()
        allowed = ("https", "http") if self.allow_http else ("https",)
        if scheme not in allowed:
            shown = f"{scheme!r}" if scheme else "no"
            need = "http or https" if self.allow_http else "https"
            raise Refused(f"has {shown} scheme; webhooks must use {need}")
        if parts.username is not None or parts.password is not None:
            raise Refused("carries credentials; put them in `authentication` instead")
        if not parts.hostname:
            raise Refused("has no host")
        if port == 0:
            raise Refused("has port 0")
        return parts

    def _allowed_address(self, ip: IP) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)

    async def resolve(self, url: str) -> Target:
        """Check `url` and every address its host resolves to; the target to connect to.

        Raises Refused (shape, an address refused, or a host that does not resolve)."""
        parts = self.parse(url)
        host = (parts.hostname or "").rstrip(".")
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        try:
            literal: IP | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self.resolver(host, port)
            except (OSError, UnicodeError) as exc:
                raise Refused(f"host {host!r} does not resolve ({exc})") from None
            if not addresses:
                raise Refused(f"host {host!r} does not resolve")
        if host.lower() not in self.names:
            for address in addresses:
                ip = ipaddress.ip_address(address.split("%", 1)[0])
                if self._allowed_address(ip):
                    continue
                why = kind_of(ip)
                if why is not None:
                    shown = host if literal is not None else f"{host} ({ip})"
                    raise Refused(f"points at {shown}, a {why} address")
        return Target(url.strip(), scheme, host, port, addresses[0])
