"""The gateway's public base URL, as clients must see it in Agent Cards and the agent list.

A configured public URL (`--public-url`) always wins. Otherwise the request's own URL is
used, corrected by a reverse proxy's `X-Forwarded-Proto`, `X-Forwarded-Host` and
`X-Forwarded-Prefix` headers, which are honoured only when the TCP peer is a trusted proxy
(`--forwarded-allow-ips`, default 127.0.0.1 and ::1; `*` trusts every peer). For a header
listing several values (a chain of proxies) the first, the client-facing one, counts.
Values that do not look like a scheme, a host or a path are ignored.
"""

from __future__ import annotations

import re

from starlette.requests import Request

_HOST = re.compile(r"^[A-Za-z0-9.\-_:\[\]]+$")
_PREFIX = re.compile(r"^(/[A-Za-z0-9._~!$&'()*+,;=:@%\-]+)+/?$")


def _first(request: Request, name: str) -> str | None:
    value = request.headers.get(name)
    if value is None:
        return None
    return value.split(",", 1)[0].strip() or None


def trusted(request: Request, allow: tuple[str, ...]) -> bool:
    peer = request.client.host if request.client else None
    return "*" in allow or (peer is not None and peer in allow)


def base_url(request: Request, *, public_url: str | None, allow: tuple[str, ...]) -> str:
    """The base URL, without a trailing slash."""
    if public_url:
        return public_url.rstrip("/")
    scheme = request.url.scheme
    host = request.headers.get("host") or request.url.netloc
    prefix = request.scope.get("root_path", "")
    if trusted(request, allow):
        proto = _first(request, "x-forwarded-proto")
        if proto in ("http", "https"):
            scheme = proto
        forwarded_host = _first(request, "x-forwarded-host")
        if forwarded_host and _HOST.match(forwarded_host):
            host = forwarded_host
        forwarded_prefix = _first(request, "x-forwarded-prefix")
        if forwarded_prefix and _PREFIX.match(forwarded_prefix):
            prefix = forwarded_prefix
    return f"{scheme}://{host}{prefix}".rstrip("/")
