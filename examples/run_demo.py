"""`make run`: the demo agents on free ports and the gateway in front of them.

Starts `document-analysis` and `echo` (gRPC, port 0), waits for each to say where it
listens, then starts the gateway on 127.0.0.1:$PORT (default 8000) and prints the URLs.
Ctrl-C (or SIGTERM) stops everything; no process is left behind.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import Sequence

AGENT_LINE = re.compile(rb"AGENT (\S+) LISTENING (\S+)")
GATEWAY_LINE = re.compile(rb"a2a-gateway listening on (\S+)")
AGENTS = {
    "document-analysis": "examples.agents.document_analysis",
    "echo": "examples.agents.echo",
}
START_TIMEOUT = 30.0


async def _start(
    args: Sequence[str], pattern: re.Pattern[bytes]
) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=None
    )
    assert process.stdout is not None
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            line = await process.stdout.readline()
            if not line:
                raise RuntimeError(f"{' '.join(args)} exited with {await process.wait()}")
            match = pattern.search(line)
            if match:
                break
    asyncio.create_task(_relay(process.stdout))  # noqa: RUF006 - ends with the process
    return process, match.group(1 if pattern is GATEWAY_LINE else 2).decode()


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
    try:
        targets: dict[str, str] = {}
        for name, module in AGENTS.items():
            process, address = await _start(["-m", module, "--port", "0"], AGENT_LINE)
            processes.append(process)
            targets[name] = address
        gateway_args = ["-m", "gateway", "serve", "--port", port]
        for name, address in targets.items():
            gateway_args += ["--agent", f"{name}={address}"]
        gateway, url = await _start(gateway_args, GATEWAY_LINE)
        processes.append(gateway)
        _banner(url, targets)
        waits = [asyncio.create_task(p.wait()) for p in processes]
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not stop.is_set():
            print("a process of the demo exited; stopping the others", file=sys.stderr)
            return 1
        return 0
    finally:
        await _stop(processes)


CURL_BODY = (
    '{"jsonrpc":"2.0","id":1,"method":"SendStreamingMessage","params":{"message":'
    '{"messageId":"m1","role":"ROLE_USER","parts":[{"text":"A2A lets agents talk."}]}}}'
)


def _banner(url: str, targets: dict[str, str]) -> None:
    lines = ["", f"A2A gateway ready at {url}", f"  agents list: {url}/agents"]
    for name, address in targets.items():
        lines.append(f"  {name}: {url}/agents/{name}/  (gRPC {address})")
        lines.append(f"    card: {url}/agents/{name}/.well-known/agent-card.json")
    lines += [
        "",
        "Try a streaming call:",
        f"  curl -N {url}/agents/document-analysis/ \\",
        "    -H 'Content-Type: application/json' -H 'A2A-Version: 1.0' \\",
        f"    -d '{CURL_BODY}'",
        "",
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
