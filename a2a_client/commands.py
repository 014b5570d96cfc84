"""The client commands of `a2a-gateway`: `call`, `agents`, `get`, `cancel`, `webhook`.

Exit codes of `call` (the final state of the task it started or continued):

    0    completed (or the agent replied directly, without a task)
    1    the call itself failed: not an A2A endpoint, connection lost, a JSON-RPC error
    2    bad command line (argparse)
    3    failed            4  canceled           5  rejected
    6    input-required (answer with `call URL "answer" --task ID`)
    7    auth-required
    130  interrupted with Ctrl-C and detached: the task goes on (`get URL ID` to see it)

Ctrl-C during `call` asks "cancel the task or detach? [c/d]" when stdin is a terminal;
otherwise (a script, CI) it cancels the task. `get` and `cancel` exit 0, or 1 on an error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from a2a_client import webhook
from a2a_client.client import A2AClient
from a2a_client.errors import A2AClientError
from a2a_client.files import FileSaver, file_part_from_path
from a2a_client.model import ArtifactEvent, Event, MessageEvent, StatusEvent, Task, TaskEvent
from a2a_client.render import Display, save_files

EXIT_CODES = {
    "completed": 0,
    "failed": 3,
    "canceled": 4,
    "rejected": 5,
    "input-required": 6,
    "auth-required": 7,
}
ERROR = 1
USAGE = 2
DETACHED = 130
NAMES = ("call", "agents", "get", "cancel", "webhook")


def _header(value: str) -> tuple[str, str]:
    name, sep, content = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not 'Name: value'")
    return name.strip(), content.strip()


def add_commands(commands: Any) -> None:
    """Add the client subcommands to `a2a-gateway`'s subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--token",
        default=os.environ.get("A2A_TOKEN"),
        help="bearer token sent as Authorization (default: $A2A_TOKEN)",
    )
    common.add_argument(
        "--header",
        dest="headers",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an extra HTTP header; repeat for several",
    )
    common.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    common.add_argument("--json", action="store_true", help="print raw JSON, one object a line")

    call = commands.add_parser(
        "call",
        parents=[common],
        help="send a message to an agent and follow the task live",
        description="Send TEXT (and any --file) to the agent at URL (e.g. "
        "http://127.0.0.1:8000/agents/echo/) and follow the task: a progress bar, status "
        "messages, artifacts as they stream (files into --out DIR). "
        "A dropped connection is resumed by itself. Exit codes: 0 completed, 1 error, "
        "3 failed, 4 canceled, 5 rejected, 6 input-required, 7 auth-required, 130 detached. "
        "Ctrl-C offers to cancel the task or detach from it.",
    )
    call.add_argument("url", help="the agent's A2A URL")
    call.add_argument("text", nargs="?", default="", help="the message text")
    call.add_argument(
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="PATH",
        help="send this file as a file part (media type from its extension); repeat for several",
    )
    call.add_argument(
        "--out", metavar="DIR", help="write the agent's file artifacts (images...) into DIR"
    )
    call.add_argument("--task", dest="task_id", help="continue this task (answer its question)")
    call.add_argument("--context", dest="context_id", help="the context id to send in")
    call.add_argument(
        "--push",
        metavar="URL",
        help="also POST every event of the task to this webhook (push notifications; "
        "see `a2a-gateway webhook`)",
    )
    call.add_argument(
        "--push-token", metavar="TOKEN", help="the webhook's X-A2A-Notification-Token"
    )

    agents = commands.add_parser(
        "agents", parents=[common], help="list a gateway's agents", description="GET URL/agents"
    )
    agents.add_argument("url", help="the gateway's base URL, e.g. http://127.0.0.1:8000")

    for name, text in (("get", "show a task"), ("cancel", "cancel a task")):
        command = commands.add_parser(name, parents=[common], help=text, description=text)
        command.add_argument("url", help="the agent's A2A URL")
        command.add_argument("task_id", help="the task id")
    webhook.add_command(commands)


def run(args: argparse.Namespace) -> int:
    """Run one client command; returns the exit code."""
    if args.command == "webhook":
        return webhook.run(args)
    if args.command != "call":
        return asyncio.run(_COMMANDS[args.command](args))
    outcome = asyncio.run(_call(args))
    if isinstance(outcome, int):
        return outcome
    if outcome.task_id is None:
        Console(stderr=True).print("interrupted before the agent created a task")
        return DETACHED
    if _ask_detach(outcome.task_id):
        Console(stderr=True, highlight=False).print(
            f"detached; the task goes on. See it with: a2a-gateway get {args.url} {outcome.task_id}"
        )
        return DETACHED
    return asyncio.run(_cancel_interrupted(args, outcome.task_id))


@dataclass(frozen=True)
class Interrupted:
    """Ctrl-C during `call`, after the task (if any) was named."""

    task_id: str | None


def _ask_detach(task_id: str) -> bool:
    """Ask on a terminal; anywhere else the answer is "cancel"."""
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"\nTask {task_id}: cancel the task or detach? [c/d] ")
    except (EOFError, KeyboardInterrupt):
        return True
    return answer.strip().lower().startswith("d")


def _client(args: argparse.Namespace) -> A2AClient:
    return A2AClient(args.url, token=args.token, headers=dict(args.headers), timeout=args.timeout)


def _fail(exc: Exception) -> int:
    Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {escape(str(exc))}")
    return ERROR


def _json_line(payload: Any) -> None:
    print(json.dumps(payload, separators=(",", ":")), flush=True)


async def _call(args: argparse.Namespace) -> int | Interrupted:
    try:
        files = [file_part_from_path(path) for path in args.files]
    except OSError as exc:
        return _fail(Exception(f"cannot read {exc.filename}: {exc.strerror}"))
    if not files and not args.text:
        _fail(Exception("nothing to send: give TEXT, --file PATH, or both"))
        return USAGE
    saver = None if args.out is None else FileSaver(args.out)
    async with _client(args) as client:
        display = None if args.json else Display(saver=saver)
        state: dict[str, Any] = {"task_id": args.task_id, "final": None}

        async def follow() -> None:
            push = None
            if args.push:
                push = {"url": args.push, **({"token": args.push_token} if args.push_token else {})}
            async for event in client.stream(
                args.text,
                task_id=args.task_id,
                context_id=args.context_id,
                files=files,
                push=push,
            ):
                _remember(state, event)
                if display is None:
                    _json_line({"eventId": event.id, "result": event.raw})
                    if saver is not None and isinstance(event, ArtifactEvent):
                        for line in save_files(saver, event):
                            Console(stderr=True, highlight=False).print(line, soft_wrap=True)
                else:
                    display.show(event)

        streaming = asyncio.ensure_future(follow())
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, streaming.cancel)
        try:
            with display or contextlib.nullcontext():
                await streaming
        except asyncio.CancelledError:
            return Interrupted(state["task_id"])
        except A2AClientError as exc:
            return _fail(exc)
        except OSError as exc:  # writing a file under --out
            return _fail(Exception(f"cannot write {exc.filename}: {exc.strerror}"))
        finally:
            loop.remove_signal_handler(signal.SIGINT)
        final = state["final"]
        if final == "input-required" and display is not None:
            display.note(
                f"[dim]answer with: a2a-gateway call {args.url} 'ANSWER' --task "
                f"{state['task_id']}[/]"
            )
        return EXIT_CODES.get(final or "", ERROR)


def _remember(state: dict[str, Any], event: Event) -> None:
    """Keep the task id and, once there is one, the final state."""
    if isinstance(event, TaskEvent):
        state["task_id"] = event.task.id
        if event.task.final:
            state["final"] = event.task.state
    elif isinstance(event, StatusEvent):
        state["task_id"] = event.task_id or state["task_id"]
        if event.final:
            state["final"] = event.state
    elif isinstance(event, MessageEvent):
        state["final"] = "completed"


async def _cancel_interrupted(args: argparse.Namespace, task_id: str) -> int:
    async with _client(args) as client:
        try:
            task = await client.cancel(task_id)
        except A2AClientError as exc:
            return _fail(exc)
    if args.json:
        _json_line({"eventId": None, "result": {"task": task.raw}})
    else:
        Console(stderr=True).print(f"[bold yellow]{task.state}[/]: task {task_id}")
    return EXIT_CODES.get(task.state, ERROR)


def _print_task(task: Task) -> None:
    out = Console(highlight=False)
    out.print(f"[bold]task[/] {task.id}  [dim]context {task.context_id}[/]")
    progress = "" if task.progress is None else f"  {task.progress}%"
    out.print(f"[bold]state[/] {task.state}{progress}  {escape(task.status_text)}")
    for artifact in task.artifacts:
        out.print(f"[bold]── {escape(artifact.name or artifact.artifact_id)} ──[/]")
        out.print(artifact.text, markup=False)


async def _get(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        try:
            task = await client.get(args.task_id)
        except A2AClientError as exc:
            return _fail(exc)
    if args.json:
        _json_line(task.raw)
    else:
        _print_task(task)
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        try:
            task = await client.cancel(args.task_id)
        except A2AClientError as exc:
            return _fail(exc)
    if args.json:
        _json_line(task.raw)
    else:
        Console(highlight=False).print(f"task {task.id} [bold yellow]{task.state}[/]")
    return 0


async def _agents(args: argparse.Namespace) -> int:
    url = args.url.rstrip("/") + "/agents"
    headers = dict(args.headers)
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    try:
        async with httpx.AsyncClient(timeout=args.timeout, headers=headers) as http:
            response = await http.get(url)
        body = response.json()
        agents = body["agents"]
    except httpx.TransportError as exc:
        return _fail(Exception(f"cannot reach {url}: {exc}"))
    except (ValueError, KeyError, TypeError):
        return _fail(Exception(f"{url} is not an a2a-gateway agents list"))
    if args.json:
        _json_line(body)
        return 0
    table = Table("name", "health", "url", "description", box=None, header_style="bold")
    for agent in agents:
        with contextlib.suppress(KeyError, TypeError):
            name = agent["name"] + (" (default)" if agent.get("default") else "")
            table.add_row(name, agent["health"], agent["url"], agent.get("description", ""))
    Console(highlight=False).print(table)
    return 0


_COMMANDS = {"agents": _agents, "get": _get, "cancel": _cancel}
