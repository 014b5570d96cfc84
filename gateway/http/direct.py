"""Direct dispatch of the routes that hold streams open, past the framework's routing.

A request routed by FastAPI/Starlette runs inside about sixteen suspended coroutines (the
exception and exit-stack middleware, the router, the route, the request-response wrappers)
for as long as its response runs: for an SSE stream that is its whole life, about 8 KB per
open stream (`make bench`, idle streams). `Direct` is a plain ASGI middleware placed inside
the gateway's own middleware (CORS, authentication, rate limit: all still applied) that
matches these few routes itself and calls their endpoint: one frame instead of sixteen.
Everything else, and any method it does not list (HEAD, OPTIONS), goes on to the router,
where the same routes are also registered, so behaviour never depends on which path served.
An exception of the endpoint is answered here as the server-error middleware would
(`fallback.internal`), then raised again; the app enters these routes past that middleware
(front.py `GatewayApp`).

The gateway's own middleware in front of it (guard.py, auth.py, limits.py, the metrics port)
hands a request that passes on the same way: its `__call__` is a plain function that
returns the inner app's awaitable instead of awaiting it, so it keeps no suspended frame for
the life of the response; only a refusal is a coroutine of its own. Such a middleware does
nothing after the inner app, by construction.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.convertors import Convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.http import fallback

Endpoint = Callable[[Request], Awaitable[Response]]


class Direct:
    """Routes `(method, path, endpoint)` served directly; the rest go on to `app`."""

    def __init__(self, app: ASGIApp, *, routes: list[tuple[str, str, Endpoint]]) -> None:
        self.app = app
        # Starlette's own path compiler: the same regex and convertors (`{task:segment}`) as
        # the router's route for the same path.
        self.routes = [(method, *_compiled(path), endpoint) for method, path, endpoint in routes]

    def __repr__(self) -> str:
        return f"<Direct routes={len(self.routes)}>"

    def route(self, scope: Scope) -> Endpoint | None:
        """The endpoint of a request to one of these routes (with the scope's `path_params`
        set), or None."""
        method, path = scope["method"], scope["path"]
        for wanted, regex, convertors, endpoint in self.routes:
            if method == wanted and (match := regex.match(path)) is not None:
                scope["path_params"] = {
                    name: convertors[name].convert(value)
                    for name, value in match.groupdict().items()
                }
                return endpoint
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.route(scope) if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:  # as the server-error middleware would answer it: front.py
            response = await fallback.internal(request, exc)
            await response(scope, receive, send)
            raise
        del request
        await response(scope, receive, send)


def _compiled(path: str) -> tuple[re.Pattern[str], dict[str, Convertor[Any]]]:
    regex, _, convertors = compile_path(path)
    return regex, convertors
