"""A client written against the original SSE design note (early A2A), as its users wrote them.

It speaks early A2A: `tasks/sendSubscribe` with params `{id, sessionId, message}` and no
`A2A-Version` header, and reads status updates (`final`, `progress`, `message`) and artifact
updates from the SSE stream, printing progress as it arrives. It was not changed for the
gateway: the gateway serves these names and fields (see gateway/early.py). `--get` and
`--resubscribe` use names early A2A shares with v0.3, so they read v0.3 shapes, which have
everything this client reads except `progress` and the status `message` text.

    python -m examples.early_a2a_client URL "text of the document"     send and stream
    python -m examples.early_a2a_client URL --get TASK_ID              the task, once
    python -m examples.early_a2a_client URL --resubscribe TASK_ID      stream a running task

`--raw` prints every result object as one JSON line instead of the readable lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import aconnect_sse


def request(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method, "params": params}


async def events(url: str, method: str, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """The `result` of each SSE event, until a status update says `final`."""
    async with (
        httpx.AsyncClient(timeout=None) as client,
        aconnect_sse(client, "POST", url, json=request(method, params)) as source,
    ):
        async for sse in source.aiter_sse():
            response = json.loads(sse.data)
            if "error" in response:
                raise RuntimeError(f"Erro: {response['error']}")
            yield response["result"]
            if response["result"].get("final"):
                return


def describe(result: dict[str, Any]) -> str:
    """One readable line for a status update, an artifact update or a task."""
    if "artifact" in result:
        artifact = result["artifact"]
        text = "".join(p.get("text", "") for p in artifact.get("parts", []))
        return f"artifact {artifact.get('name') or artifact.get('artifactId')}: {text!r}"
    state = result.get("status", {}).get("state")
    if "final" not in result:
        return f"task {result['id']}: {state}"
    progress = result.get("progress")
    line = f"status {state}" + (f" {progress}%" if progress is not None else "")
    if result.get("message"):
        line += f" - {result['message']}"
    return line + (" (final)" if result["final"] else "")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("text", nargs="?", default="")
    parser.add_argument("--get", metavar="TASK_ID")
    parser.add_argument("--resubscribe", metavar="TASK_ID")
    parser.add_argument("--session", default=str(uuid.uuid4()))
    parser.add_argument("--raw", action="store_true", help="print each result as JSON")
    args = parser.parse_args(argv)
    show = (lambda r: json.dumps(r)) if args.raw else describe
    if args.get:
        async with httpx.AsyncClient(timeout=30) as client:
            reply = await client.post(args.url, json=request("tasks/get", {"id": args.get}))
        body = reply.json()
        if "error" in body:
            print(f"Erro: {body['error']}", file=sys.stderr)
            return 1
        print(show(body["result"]), flush=True)
        return 0
    if args.resubscribe:
        method, params = "tasks/resubscribe", {"id": args.resubscribe}
    else:
        message = {"role": "user", "parts": [{"type": "text", "text": args.text}]}
        # The note's client picks its own task id; the gateway answers with the real one.
        params = {"id": f"task-{uuid.uuid4()}", "sessionId": args.session, "message": message}
        method = "tasks/sendSubscribe"
    try:
        async for result in events(args.url, method, params):
            print(show(result), flush=True)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
