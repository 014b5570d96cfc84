"""Which caller HTTP headers reach the agent.

Only headers named in `forward_headers` (lower-case) are forwarded: as gRPC metadata on the
Run call and in `RunRequest.caller.headers`. The gateway always adds `x-a2a-principal` and
`x-request-id` itself. Some headers are never forwarded, even when listed (the configuration
refuses them): hop-by-hop and framing headers, which describe one HTTP hop and mean nothing
on a gRPC call, and credentials (`authorization`, `cookie`, `x-api-key`, proxy ones), which
are the gateway's business: agents get the authenticated principal instead.

Repeated headers are joined with ", ". A value gRPC metadata cannot carry (outside printable
ASCII) is dropped rather than mangled.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers

NEVER_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-type",
        "authorization",
        "proxy-authorization",
        "proxy-authenticate",
        "cookie",
        "x-api-key",
        "x-a2a-principal",
        "x-request-id",
    }
)


def refusal(name: str) -> str | None:
    """Why header `name` (lower-case) can never be forwarded, or None when it can."""
    if not name or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789-_." for c in name):
        return "is not a header name gRPC metadata can carry"
    if name in NEVER_FORWARDED or name.startswith(("grpc-", "proxy-")) or name.endswith("-bin"):
        return "is never forwarded (hop-by-hop, credentials or set by the gateway)"
    return None


def forwarded(headers: Headers, names: Iterable[str]) -> dict[str, str]:
    """The allow-listed headers present in `headers`, ready for gRPC metadata."""
    out: dict[str, str] = {}
    for name in names:
        values = headers.getlist(name)
        if not values:
            continue
        value = ", ".join(values)
        if value.isascii() and value.isprintable():
            out[name] = value
    return out
