"""Plain ASGI: refuse what a web page on another site could make a browser send.

Two checks, before authentication and before any binding reads a byte of the body:

- **Content type.** A browser sends a cross-origin POST without a CORS preflight only when it
  is a "simple" request: `text/plain`, `application/x-www-form-urlencoded` or
  `multipart/form-data`. So every POST (and PUT / PATCH) must declare a JSON body,
  `application/json` or `application/a2a+json` (parameters such as `charset` allowed); any
  other type, or none, is HTTP 415 (-32600, reason UNSUPPORTED_MEDIA_TYPE). A POST with no
  body and no Content-Type passes: it carries nothing but the task its path names (REST
  `:cancel` and `:subscribe`, which the official clients send bare). A JSON content
  type makes the request non-simple: the browser asks first, and CORS (off by default) says
  no.
- **Host (DNS rebinding).** A page can point its own name at 127.0.0.1 and then read a
  local gateway as its "same origin"; the `Host` header still carries that name. When
  `allowed` is set, a request whose `Host` (without its port) is neither a loopback name
  (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`) nor one of `allowed` is HTTP 403 (-32600,
  reason HOST_NOT_ALLOWED). `allowed_hosts(settings)` decides: the configured
  `allowed_hosts` (`*` turns the check off), else, for a gateway bound to loopback, the host
  of `public_url`; a gateway bound to another address without `allowed_hosts` checks no
  Host. A request without a `Host` header (HTTP/1.0; browsers always send one) passes.

Entries of `allowed` are exact names or `*.example.com` (any subdomain). Refusals are shaped
by the binding of the path (fallback.py).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.core import error_table, errors, request_errors
from gateway.http import fallback
from gateway.ops.settings import Settings

log = logging.getLogger("a2a_gateway")

JSON_TYPES = frozenset({"application/json", "application/a2a+json"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def is_loopback(host: str) -> bool:
    """A name or address that can only mean this machine."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(value: str) -> str:
    """A Host header's name, without its port or IPv6 brackets, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        return value.partition(":")[0]
    return value


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """The names the Host check accepts besides loopback ones; None: no Host check."""
    if "*" in settings.allowed_hosts:
        return None
    names = {host_name(h) for h in settings.allowed_hosts}
    if not names and not is_loopback(settings.host):
        return None
    if settings.public_url is not None:
        public = urlsplit(settings.public_url).hostname
        if public:
            names.add(public.lower())
    return frozenset(names)


def host_allowed(name: str, allowed: frozenset[str]) -> bool:
    if is_loopback(name) or name in allowed:
        return True
    return any(entry.startswith("*.") and name.endswith(entry[1:]) for entry in allowed)


def media_type(value: str | None) -> str | None:
    if value is None:
        return None
    return value.partition(";")[0].strip().lower()


class Guard:
    """See the module docstring. `on_refuse(reason)` is told of each refusal (metrics)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed: frozenset[str] | None,
        on_refuse: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.allowed = allowed
        self.on_refuse = on_refuse

    def __repr__(self) -> str:
        hosts = "any" if self.allowed is None else sorted(self.allowed) or "loopback"
        return f"<Guard hosts={hosts}>"

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Hands a request that passes on (see direct.py); refuses the others."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        error = self.check(scope)
        if error is None:
            return self.app(scope, receive, send)
        return self.refuse(error, scope, send)

    async def refuse(self, error: errors.A2AError, scope: Scope, send: Send) -> None:
        log.info("refused %s %s: %s", scope["method"], scope["path"][:200], error.reason)
        if self.on_refuse is not None:
            self.on_refuse(error.reason)
        body, media_type = fallback.body(scope["path"], error)
        headers = [
            (b"content-type", media_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        status = error_table.http_status(error)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def check(self, scope: Scope) -> errors.A2AError | None:
        """The refusal a request deserves, or None."""
        content_type: str | None = None
        host: str | None = None
        bodiless = True  # no Content-Length (or 0) and no chunked body
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                bodiless = bodiless and value.strip() in (b"0", b"")
            elif name == b"transfer-encoding":
                bodiless = False
        allowed = self.allowed
        if allowed is not None and host is not None and not host_allowed(host_name(host), allowed):
            return request_errors.host_not_allowed(host)
        # A POST without a body carries no request a page could forge beyond naming a task
        # (REST `:cancel` and `:subscribe`, which clients send bare); one with a body must
        # say it is JSON, which a cross-site "simple" request cannot.
        bare = bodiless and content_type is None
        if (
            scope["method"] in BODY_METHODS
            and media_type(content_type) not in JSON_TYPES
            and not bare
        ):
            return request_errors.unsupported_media_type(content_type)
        return None
