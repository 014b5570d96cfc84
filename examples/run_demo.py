"""`make run`: the demo agents on free ports and the gateway in front of them.

Reads `examples/gateway.yaml` (see docs/configuration.md), starts each agent it names on a
free port (Python: document-analysis, echo, image-render, and workflow, which calls two of
them through the gateway; Node.js: text-stats, when `node` is installed and `make
node-agent` has run) and waits for each to say where it listens. It then writes a copy of
the file with those targets (and absolute TLS file paths) to a temporary file and starts the
gateway with `--config` on that copy, on 127.0.0.1:$PORT (default 8000; with PORT=0 a free
port is picked first, since the workflow agent is given the gateway's URL when it starts),
with the gRPC binding on $GRPC_PORT (default: the file's `listen.grpc_port`, else 50050; with
PORT=0 a free one). Agents it cannot start are left out of the copy, with a note. Ctrl-C (or
SIGTERM) stops everything; no process is left behind. The banner names the browser page,
`/ui/`, and the gRPC address. `CARD_SIGNING_KEY=key.pem` (and optionally `CARD_SIGNING_KID`,
default `demo`) signs every Agent Card (docs/spec.md).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import yaml

AGENT_LINE = re.compile(rb"AGENT (\S+) LISTENING (\S+)")
GATEWAY_LINE = re.compile(rb"a2a-gateway listening on (\S+)")
GRPC_LINE = re.compile(rb"a2a-gateway gRPC on (\S+)")
HERE = Path(__file__).resolve().parent
CONFIG = HERE / "gateway.yaml"
NODE_AGENT = HERE / "node-agent"
START_TIMEOUT = 30.0
DEFAULT_GRPC_PORT = 50050


def _launcher(name: str, gateway_url: str) -> list[str] | str:
    """The command that starts agent `name` on a free port, or why it cannot start."""
    python = {
        "document-analysis": "examples.agents.document_analysis",
        "echo": "examples.agents.echo",
        "image-render": "examples.agents.image_render",
    }
    if name in python:
        return [sys.executable, "-m", python[name], "--port", "0"]
    if name == "workflow":  # calls the other agents through the gateway: it needs its URL
        command = [sys.executable, "-m", "examples.agents.workflow", "--port", "0"]
        return [*command, "--gateway", gateway_url]
    if name == "text-stats":
        node = shutil.which("node")
        if node is None:
            return "node is not installed"
        if not (NODE_AGENT / "node_modules").is_dir():
            return "run `make node-agent` (npm ci) first"
        return [node, str(NODE_AGENT / "agent.js"), "--port", "0"]
    return "the demo does not know how to start it"


async def _start(
    command: Sequence[str],
    *patterns: re.Pattern[bytes],
    processes: list[asyncio.subprocess.Process],
) -> tuple[asyncio.subprocess.Process, list[str]]:
    """Start `command` (added to `processes` at once, so it is stopped whatever happens);
    wait for a line matching each of `patterns`, in order; what each matched (the gateway's
    URL, gRPC address; an agent's address)."""
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=None
    )
    processes.append(process)
    assert process.stdout is not None
    found: list[str] = []
    async with asyncio.timeout(START_TIMEOUT):
        for pattern in patterns:
            while True:
                line = await process.stdout.readline()
                if not line:
                    code = await process.wait()
                    raise RuntimeError(f"{' '.join(command)} exited with {code}")
                match = pattern.search(line)
                if match:
                    found.append(match.group(2 if pattern is AGENT_LINE else 1).decode())
                    break
    asyncio.create_task(_relay(process.stdout))  # noqa: RUF006 - ends with the process
    return process, found


async def _relay(stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        sys.stdout.buffer.write(line)
        sys.stdout.flush()


async def _stop(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            async with asyncio.timeout(10):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


async def main() -> int:
    port = os.environ.get("PORT", "8000")
    processes: list[asyncio.subprocess.Process] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with tempfile.NamedTemporaryFile("w", prefix="a2a-gateway-", suffix=".yaml") as config_file:
        try:
            return await _run(config_file, port, processes, stop)
        finally:
            await _stop(processes)


async def _run(
    config_file: IO[str],
    port: str,
    processes: list[asyncio.subprocess.Process],
    stop: asyncio.Event,
) -> int:
    port_was_free = port == "0"
    if port_was_free:
        port = str(_free_port())  # the workflow agent must know the gateway's URL up front
    targets = await _start_agents(config_file, processes, f"http://127.0.0.1:{port}")
    gateway_args = ["-m", "gateway", "serve", "--config", config_file.name, "--port", port]
    signing_key = os.environ.get("CARD_SIGNING_KEY")  # signed Agent Cards (docs/spec.md)
    if signing_key:
        kid = os.environ.get("CARD_SIGNING_KID", "demo")
        gateway_args += ["--card-signing-key", signing_key, "--card-signing-kid", kid]
    gateway_args += DEMO_PUSH
    listen = yaml.safe_load(CONFIG.read_text()).get("listen") or {}
    default_grpc = "0" if port_was_free else str(listen.get("grpc_port", DEFAULT_GRPC_PORT))
    gateway_args += ["--grpc-port", os.environ.get("GRPC_PORT", default_grpc)]
    _, (url, grpc_address) = await _start(
        [sys.executable, *gateway_args], GATEWAY_LINE, GRPC_LINE, processes=processes
    )
    _banner(url, targets, grpc_address)
    waits = [asyncio.create_task(p.wait()) for p in processes]
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not stop.is_set():
        print("a process of the demo exited; stopping the others", file=sys.stderr)
        return 1
    return 0


def _free_port() -> int:
    """A port free right now on 127.0.0.1 (another process could take it before the gateway
    binds it; good enough for a demo and its test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _start_agents(
    config_file: IO[str], processes: list[asyncio.subprocess.Process], gateway_url: str
) -> dict[str, str]:
    """Start the agents of gateway.yaml, all at once; write the copy with their targets to
    `config_file`."""
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    targets: dict[str, str] = {}
    agents = []
    chosen = []
    for agent in config["agents"]:
        command = _launcher(agent["name"], gateway_url)
        if isinstance(command, str):
            print(f"demo: leaving out {agent['name']}: {command}", file=sys.stderr)
            continue
        chosen.append((agent, command))
    started = await asyncio.gather(*(_start(c, AGENT_LINE, processes=processes) for _, c in chosen))
    for (agent, _), (_, [address]) in zip(chosen, started, strict=True):
        targets[agent["name"]] = address
        agent.pop("target", None)
        for key, path in (agent.get("tls") or {}).items():
            if key.endswith("_file"):  # the copy lives elsewhere: keep paths working
                agent["tls"][key] = str(HERE / path)
        agents.append({**agent, "targets": [address]})
    config["agents"] = agents
    yaml.safe_dump(config, config_file, sort_keys=False)
    config_file.flush()
    return targets


# The local demo's webhooks live on this machine: let the SSRF guard through to 127.0.0.1 over
# http (a deployment keeps the default: https to public addresses only), and sign requests.
DEMO_PUSH = ["--push-allow", "127.0.0.1", "--push-allow-http", "--push-signing"]

CURL_BODY = (
    '{"jsonrpc":"2.0","id":1,"method":"SendStreamingMessage","params":{"message":'
    '{"messageId":"m1","role":"ROLE_USER","parts":[{"text":"A2A lets agents talk."}]}}}'
)


def _banner(url: str, targets: dict[str, str], grpc_address: str) -> None:
    lines = [
        "",
        f"A2A gateway ready at {url}",
        f"  browser UI:  {url}/ui/",
        f"  agents list: {url}/agents",
        f"  A2A gRPC:    {grpc_address}  (lf.a2a.v1.A2AService; tenant = agent name)",
    ]
    for name, address in targets.items():
        lines.append(f"  {name}: {url}/agents/{name}/  (gRPC {address})")
        lines.append(f"    card: {url}/agents/{name}/.well-known/agent-card.json")
    lines += [
        "",
        "Try a streaming call (or use /agents/text-stats/ or /agents/echo/):",
        f"  curl -N {url}/agents/document-analysis/ \\",
        "    -H 'Content-Type: application/json' -H 'A2A-Version: 1.0' \\",
        f"    -d '{CURL_BODY}'",
        "",
        "Or with the CLI (a live progress bar; the workflow agent calls the other two):",
        f"  a2a-gateway call {url}/agents/document-analysis/ 'A2A lets agents talk.'",
        f"  a2a-gateway call {url}/agents/workflow/ 'A2A lets agents talk.'",
        f"  a2a-gateway call {url}/agents/document-analysis/ --file report.pdf",
        f"  a2a-gateway call {url}/agents/image-render/ 'seahorse valley' --out pictures/",
        "",
        "Push notifications: this demo allows webhooks on 127.0.0.1 over http (the SSRF",
        "guard refuses them by default). In a second terminal:",
        f"  a2a-gateway webhook --port 9000 --jwks {url}/.well-known/jwks.json",
        f"  a2a-gateway call {url}/agents/document-analysis/ 'A2A lets agents talk.' \\",
        "    --push http://127.0.0.1:9000/",
        "",
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
