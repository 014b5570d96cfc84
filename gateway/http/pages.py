"""The HTTP edge's own pages: Agent Cards, the agent list, health, readiness and metrics.

Public without credentials (see app.py): the cards, /agents, /healthz, /readyz and, by
configuration, /metrics.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.core import errors, request_errors
from gateway.http import card, fallback

if TYPE_CHECKING:
    from gateway.http.state import Gateway

JSON = "application/json"


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON, headers=headers)


async def agent_card(gateway: Gateway, request: Request) -> Response:
    upstream = gateway.upstream_for(request)
    if upstream is None:
        return unknown_agent(request)
    at_root = "agent" not in request.path_params
    prefix = gateway.prefix(request, upstream, at_root=at_root)
    url = prefix + "/"
    try:
        body = await gateway.agent_cards.document(
            upstream,
            url=url,
            base=gateway.base_url(request),
            interfaces=interfaces(
                prefix,
                rest=gateway.settings.rest,
                grpc=grpc_interface(gateway, url, upstream.name),
            ),
            grpc=gateway.grpc is not None,
            push=gateway.push is not None,
        )
    except errors.A2AError as exc:
        return json_response({"error": exc.to_json()}, status=503)
    return gateway.cards.respond(request, orjson.dumps(body))


async def jwks(gateway: Gateway, request: Request) -> Response:
    """The gateway's public keys at one well-known path: the Agent Card signing key (its
    signatures' `jku` points here) and the push-notification signing keys (every replica's,
    on a shared store). 404 when nothing is signed."""
    keys: list[Any] = []
    if gateway.agent_cards.signer is not None:
        keys += gateway.agent_cards.signer.jwks()["keys"]
    push_keys = gateway.push.keys if gateway.push is not None else None
    if push_keys is not None:
        keys += orjson.loads(await push_keys.document())["keys"]
    if not keys:
        return json_response({"error": {"code": 404, "message": "Nothing here is signed"}}, 404)
    return gateway.cards.respond(request, orjson.dumps({"keys": keys}))


def interfaces(
    prefix: str, *, rest: bool = True, grpc: card.Interface | None = None
) -> list[card.Interface]:
    """Every enabled binding of the agent at `prefix` (its base URL, no trailing slash), in
    the order a client should prefer: JSON-RPC v1.0 first (the resume extension and the
    browser events endpoint live there), then REST (HTTP+JSON, paths under `prefix`), then
    gRPC (`grpc`, when it is on), and the v0.3 JSON-RPC entry last, for v1.0 clients that
    fall back. A binding adds its line."""
    found = [card.Interface("JSONRPC", prefix + "/")]
    if rest:
        found.append(card.Interface("HTTP+JSON", prefix))
    if grpc is not None:
        found.append(grpc)
    found.append(card.Interface("JSONRPC", prefix + "/", "0.3"))
    return found


def grpc_interface(gateway: Gateway, url: str, agent: str) -> card.Interface | None:
    """The card's GRPC entry when the gRPC binding is on: the host of the card's `url`."""
    if gateway.grpc is None:
        return None
    host = urlsplit(url).hostname or gateway.settings.host
    return card.grpc_interface(host, gateway.grpc.port, agent)


async def list_agents(gateway: Gateway, request: Request) -> Response:
    """Every agent with its URLs, its health, and its description when it answers
    Describe within a second (fetched once, then cached)."""
    base = gateway.base_url(request)
    upstreams = list(gateway.upstreams.values())
    described = await asyncio.gather(
        *(asyncio.wait_for(u.describe(timeout=1.0), 1.0) for u in upstreams),
        return_exceptions=True,
    )
    await asyncio.gather(*(u.checked(timeout=1.0) for u in upstreams))
    agents = []
    for upstream, description in zip(upstreams, described, strict=True):
        entry: dict[str, Any] = {
            "name": upstream.name,
            "url": f"{base}/agents/{upstream.name}/",
            "cardUrl": f"{base}/agents/{upstream.name}/.well-known/agent-card.json",
            "default": upstream is gateway.default,
            "health": upstream.health()["status"],
        }
        if not isinstance(description, BaseException):
            entry["description"] = upstream.spec.card_overrides.get(
                "description", description.description
            )
        agents.append(entry)
    return json_response({"agents": agents})


async def healthz(gateway: Gateway, request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(gateway: Gateway, request: Request) -> Response:
    """Ready when every agent has a SERVING target and the store answers. Waits up to
    2 s for first answers."""
    upstreams = list(gateway.upstreams.values())
    _, store = await asyncio.gather(
        asyncio.gather(*(u.checked(timeout=2.0) for u in upstreams)), gateway.store.health()
    )
    agents = {u.name: u.health() for u in upstreams}
    ready = all(a["status"] == "SERVING" for a in agents.values()) and store["status"] == "ok"
    return json_response(
        {"status": "ready" if ready else "unavailable", "agents": agents, "store": store},
        status=200 if ready else 503,
    )


async def metrics_page(gateway: Gateway, request: Request) -> Response:
    return Response(gateway.metrics.exposition(), media_type=gateway.metrics.content_type)


def unknown_agent(request: Request) -> Response:
    """404 AGENT_NOT_FOUND, in the shape of the binding that serves the path (fallback.py)."""
    name = str(request.path_params.get("agent", ""))
    return fallback.response(request, request_errors.agent_not_found(name), {})
