"""The app's direct entry (http/front.py): the stream routes run past FastAPI's own entry,
and an exception there is answered as FastAPI's server-error middleware answers it."""

from __future__ import annotations

import inspect
from typing import Any

import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response

from gateway.bindings.jsonrpc import handler as jsonrpc
from gateway.http import guard
from gateway.http.app import create_app
from gateway.ops.settings import AgentSpec, Settings

pytestmark = pytest.mark.anyio


class Exchange:
    """One in-process HTTP request to the app: what it sent back."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def run(self, app: Any, method: str, path: str, *extra: tuple[bytes, bytes]) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                *extra,
            ],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
        }
        body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {}})
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            self.messages.append(message)

        await app(scope, receive, send)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    def json(self) -> Any:
        return orjson.loads(b"".join(m.get("body", b"") for m in self.messages[1:]))


def app_with(monkeypatch: pytest.MonkeyPatch, rpc: Any, **settings: Any) -> Any:
    monkeypatch.setattr(jsonrpc, "rpc", rpc)
    agents = (AgentSpec(name="a", target="127.0.0.1:1"),)
    return create_app(Settings(agents=agents, **settings))


async def test_a_stream_route_runs_past_fastapis_own_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    async def rpc(gateway: Any, request: Request) -> Response:
        seen.extend(f"{f.filename}:{f.function}" for f in inspect.stack())
        return Response(b"{}", media_type="application/json")

    exchange = Exchange()
    await exchange.run(app_with(monkeypatch, rpc), "POST", "/")
    assert exchange.status == 200
    assert any("gateway/http/direct.py" in frame for frame in seen)
    entry = [f for f in seen if "starlette/applications.py" in f or "fastapi/applications" in f]
    assert entry == []  # neither FastAPI's nor Starlette's __call__ is on the way
    assert not any("starlette/middleware/errors.py" in frame for frame in seen)


async def test_the_gateways_middleware_still_applies_there(monkeypatch: pytest.MonkeyPatch) -> None:
    async def rpc(gateway: Any, request: Request) -> Response:
        return Response(b"{}", media_type="application/json")

    app = app_with(monkeypatch, rpc, cors_origins=("https://app.example",))
    exchange = Exchange()
    await exchange.run(app, "POST", "/", (b"origin", b"https://app.example"))
    headers = dict(exchange.messages[0]["headers"])
    assert headers[b"access-control-allow-origin"] == b"https://app.example"


async def test_other_routes_still_go_through_fastapi(monkeypatch: pytest.MonkeyPatch) -> None:
    exchange = Exchange()
    await exchange.run(app_with(monkeypatch, jsonrpc.rpc), "GET", "/no/such/route")
    assert exchange.status == 404
    assert exchange.json()["error"]["details"][0]["reason"] == "ROUTE_NOT_FOUND"


async def test_an_exception_of_a_stream_route_is_a_500_in_its_shape_and_raised_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def rpc(gateway: Any, request: Request) -> Response:
        raise RuntimeError("a bug")

    exchange = Exchange()
    with pytest.raises(RuntimeError, match="a bug"):  # for the server to log, as before
        await exchange.run(app_with(monkeypatch, rpc), "POST", "/")
    assert exchange.status == 500
    error = exchange.json()
    assert error["id"] is None
    assert error["error"]["message"] == "Internal error"


async def test_an_exception_of_the_middleware_there_is_a_500_in_its_shape_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: Any, scope: Any, receive: Any, send: Any) -> Any:
        raise RuntimeError("a middleware bug")

    app = app_with(monkeypatch, jsonrpc.rpc)
    monkeypatch.setattr(guard.Guard, "__call__", broken)
    exchange = Exchange()
    with pytest.raises(RuntimeError, match="a middleware bug"):
        await exchange.run(app, "POST", "/")
    assert exchange.status == 500
    assert exchange.json()["error"]["message"] == "Internal error"
