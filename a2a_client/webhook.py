"""`a2a-gateway webhook`: a small push notification receiver for local testing.

It listens on `--host`/`--port` (127.0.0.1:9000 by default), answers every POST with 200
(401 when `--token` or, with `--jwks`, the signature does not match) and prints one line per
event: its id (`A2A-Event-Id`), task, kind and state, progress and text. A repeated id of the
same config is marked `(duplicate)`: deliveries are at least once.

With `--jwks URL` (the gateway's `/.well-known/jwks.json`) it verifies each request's
`X-A2A-Notification-Signature` JWT with the published key and checks that the JWT's
`request_body_sha256` is the body's. `--json` prints one JSON object a line instead.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import socket
from typing import Any

import httpx
import jwt
import uvicorn
from starlette.types import Receive, Scope, Send

SIGNATURE = "x-a2a-notification-signature"


def add_command(commands: Any) -> None:
    hook = commands.add_parser(
        "webhook",
        help="receive push notifications and print them (local testing)",
        description="Listen for push notification POSTs (A2A webhooks) and print each event. "
        "Register it with: a2a-gateway call URL TEXT --push http://127.0.0.1:9000/",
    )
    hook.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    hook.add_argument("--port", type=int, default=9000, help="listen port (default 9000; 0: any)")
    hook.add_argument("--jwks", metavar="URL", help="verify signatures with this JWKS document")
    hook.add_argument("--token", help="require this X-A2A-Notification-Token")
    hook.add_argument("--json", action="store_true", help="print one JSON object a line")


def describe(body: dict[str, Any]) -> str:
    """One readable line for a StreamResponse body."""
    if "task" in body:
        task = body["task"]
        return f"task {task['id'][:8]}  task {_state(task['status'])}"
    if "statusUpdate" in body:
        update = body["statusUpdate"]
        progress = (update.get("metadata") or {}).get("progress")
        extra = f" {progress}%" if progress is not None else ""
        text = _text((update["status"].get("message") or {}).get("parts") or [])
        return f"task {update['taskId'][:8]}  {_state(update['status'])}{extra}  {text}".rstrip()
    if "artifactUpdate" in body:
        update = body["artifactUpdate"]
        artifact = update["artifact"]
        name = artifact.get("name") or artifact.get("artifactId", "")
        text = _text(artifact.get("parts") or [])
        return f"task {update['taskId'][:8]}  artifact {name}  {text!r}"
    if "message" in body:
        return f"message  {_text(body['message'].get('parts') or [])}"
    return "unknown payload"


def _state(status: dict[str, Any]) -> str:
    return str(status.get("state", "")).removeprefix("TASK_STATE_").lower().replace("_", "-")


def _text(parts: list[dict[str, Any]]) -> str:
    text = "".join(str(p.get("text", "")) for p in parts)
    text = text.replace("\n", " ").strip()
    return text if len(text) <= 70 else text[:67] + "..."


class Webhook:
    """The receiver's ASGI app (see the module docstring)."""

    def __init__(self, *, jwks_url: str | None, token: str | None, as_json: bool) -> None:
        self.jwks_url = jwks_url
        self.token = token
        self.as_json = as_json
        self.keys: dict[str, Any] = {}
        self.seen: set[tuple[str, str, str]] = set()

    async def load_keys(self) -> None:
        if self.jwks_url is None:
            return
        async with httpx.AsyncClient(timeout=10) as http:
            document = (await http.get(self.jwks_url)).json()
        for key in jwt.PyJWKSet.from_dict(document).keys:
            if key.key_id:
                self.keys[key.key_id] = key

    async def verify(self, token: str | None, body: bytes) -> str:
        """ "ok", or what is wrong with the signature."""
        if token is None:
            return "no signature"
        try:
            kid = jwt.get_unverified_header(token).get("kid", "")
            if kid not in self.keys:
                await self.load_keys()  # the gateway's key changed (restarted)
            key = self.keys[kid]
            claims = jwt.decode(
                token, key.key, algorithms=["ES256", "RS256"], options={"verify_aud": False}
            )
        except (jwt.PyJWTError, KeyError, httpx.HTTPError) as exc:
            return f"bad signature ({type(exc).__name__})"
        if claims.get("request_body_sha256") != hashlib.sha256(body).hexdigest():
            return "bad signature (the body does not match)"
        return "ok"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status = 200
        notes: list[str] = []
        if self.token is not None and headers.get("x-a2a-notification-token") != self.token:
            status = 401
            notes.append("wrong token")
        if self.jwks_url is not None:
            verdict = await self.verify(headers.get(SIGNATURE), body)
            notes.append("signature ok" if verdict == "ok" else verdict)
            if verdict != "ok":
                status = 401
        elif SIGNATURE in headers:
            notes.append("signed (not checked: no --jwks)")
        event_id = headers.get("a2a-event-id", "?")
        config_id = headers.get("a2a-notification-config-id", "")
        try:
            payload: Any = json.loads(body)
            line = describe(payload)
        except (ValueError, KeyError, TypeError, AttributeError):
            payload, line = None, f"not a StreamResponse ({len(body)} bytes)"
        task = line.split("  ", 1)[0]
        key = (config_id, task, event_id)
        if key in self.seen:
            notes.append("duplicate")
        elif status == 200:
            self.seen.add(key)
        if self.as_json:
            out = {"eventId": event_id, "configId": config_id, "notes": notes, "body": payload}
            print(json.dumps(out, separators=(",", ":")), flush=True)
        else:
            suffix = f"  ({', '.join(notes)})" if notes else ""
            print(f"#{event_id:<4} {line}{suffix}", flush=True)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def serve(args: argparse.Namespace) -> None:
    app = Webhook(jwks_url=args.jwks, token=args.token, as_json=args.json)
    await app.load_keys()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", interface="asgi3", lifespan="off")
    print(f"webhook listening on http://{args.host}:{port}/", flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


def run(args: argparse.Namespace) -> int:
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0
    except (OSError, httpx.HTTPError, ValueError) as exc:
        print(f"a2a-gateway webhook: {exc}", flush=True)
        return 1
    return 0
