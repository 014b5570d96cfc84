"""The gateway's ASGI app: FastAPI, with the routes that hold streams open entered directly.

uvicorn calls the app, and FastAPI's own entry runs each request inside five coroutines of
its and Starlette's (the app's `__call__` twice, the server-error, exception-telemetry and
body-limit middleware) before the gateway's middleware: for an SSE stream they stay
suspended for its whole life, about 1.7 KB per open stream (`make bench`, idle streams).
`GatewayApp` is a FastAPI whose `__call__` hands a request for one of the direct routes
(see direct.py) straight to the gateway's middleware built around `Direct` (the same
classes and options as in FastAPI's stack: CORS, guard, metrics port, authentication, rate
limit), returning its awaitable without a frame of its own. Every other request, and the
lifespan, go through FastAPI as before.

What FastAPI's entry did for these requests is done here: the scope's `app` and
`root_path`; an exception raised while the middleware decide is answered like the
server-error middleware answers (`fallback.internal`: a 500 in the path's shape) and raised
again for uvicorn to log; `Direct` does the same for an exception of the endpoint. FastAPI's
native telemetry, when enabled, only sees the other requests. Since `__call__` is a plain
method, a server must be told the app is ASGI 3 rather than guess it (cli.py does).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.http import fallback
from gateway.http.direct import Direct


class GatewayApp(FastAPI):
    """FastAPI with a direct entry for the stream routes; see the module docstring."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.direct_entry: ASGIApp | None = None
        self.direct: Direct | None = None

    def enter_directly(self) -> None:
        """Build the direct entry from the app's middleware, once all of it is added (the
        innermost being `Direct`, whose routes are the ones entered directly)."""
        app: ASGIApp = self.router
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
            if isinstance(app, Direct):
                self.direct = app
        self.direct_entry = app

    def __call__(  # type: ignore[override]  # an awaitable, not a coroutine of its own
        self, scope: Scope, receive: Receive, send: Send
    ) -> Awaitable[None]:
        entry, direct = self.direct_entry, self.direct
        if (
            entry is not None
            and direct is not None
            and scope["type"] == "http"
            and direct.route(scope) is not None
        ):
            scope["app"] = self
            if self.root_path:
                scope["root_path"] = self.root_path
            try:
                return entry(scope, receive, send)
            except Exception as exc:
                return _failed(scope, receive, send, exc)
        return super().__call__(scope, receive, send)


async def _failed(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    response = await fallback.internal(Request(scope, receive, send), exc)
    await response(scope, receive, send)
    raise exc
