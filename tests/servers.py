"""Real processes on 127.0.0.1 for end-to-end tests: agents and gateways.

Each process writes stdout to a file; we wait (with a deadline) for the line that says where
it listens, then poll its health endpoint. Nothing sleeps for a fixed time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
AGENT_LINE = re.compile(r"AGENT (\S+) LISTENING ([\d.]+):(\d+)")
GATEWAY_LINE = re.compile(r"a2a-gateway listening on (http://\S+)")


LOGS: list[Path] = []
"""Every log file this test session's processes wrote; removed when the session passes
(`remove_logs`, called by conftest), kept for reading when it fails."""


def remove_logs() -> None:
    while LOGS:
        LOGS.pop().unlink(missing_ok=True)


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    log: Path
    address: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode


def start(
    args: list[str],
    pattern: re.Pattern[str],
    *,
    timeout: float = 20.0,
    env: dict[str, str] | None = None,
    program: str = sys.executable,
) -> tuple[Process, re.Match[str]]:
    """Start `program args...` (python by default) and wait until its output matches
    `pattern`."""
    fd, name = tempfile.mkstemp(prefix="a2a-test-", suffix=".log")
    log = Path(name)
    LOGS.append(log)
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with os.fdopen(fd, "wb") as out:
        popen = subprocess.Popen(
            [program, *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=full_env
        )
    process = Process(popen, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = pattern.search(process.output())
        if match:
            return process, match
        if popen.poll() is not None:
            raise RuntimeError(f"{args} exited with {popen.returncode}:\n{process.output()}")
        time.sleep(0.02)
    process.stop(signal.SIGKILL)
    raise TimeoutError(f"{args} did not start within {timeout}s:\n{process.output()}")


def start_agent(module: str, *extra: str, env: dict[str, str] | None = None) -> Process:
    process, match = start(["-m", module, "--port", "0", *extra], AGENT_LINE, env=env)
    process.address = f"{match.group(2)}:{match.group(3)}"
    return process


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write `config` as a YAML configuration file at `path`."""
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_gateway(
    agents: dict[str, str],
    *extra: str,
    env: dict[str, str] | None = None,
    config: Path | None = None,
) -> Process:
    args = ["-m", "gateway", "serve", "--port", "0", "--log-level", "warning"]
    if config is not None:
        args += ["--config", str(config)]
    for name, address in agents.items():
        args += ["--agent", f"{name}={address}"]
    process, match = start([*args, *extra], GATEWAY_LINE, env=env)
    process.address = match.group(1)
    wait_healthy(process.address + "/healthz")
    return process


def wait_healthy(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.02)
    raise TimeoutError(f"{url} not healthy within {timeout}s: {last}")


class JsonLines:
    """A client process in the background that prints one JSON object per line as it goes."""

    def __init__(self, argv: list[str], out: Path, timeout: float = 60.0) -> None:
        self.out = out
        self.timeout = timeout
        self.handle = out.open("w")
        self.popen = subprocess.Popen(
            argv, stdout=self.handle, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )

    def lines(self) -> list[dict[str, Any]]:
        text = self.out.read_text()
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        """Poll (with a deadline) until `count` lines are out."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            lines = self.lines()
            if len(lines) >= count:
                return lines
            assert self.popen.poll() is None, self.popen.communicate()[1]
            time.sleep(0.02)
        self.popen.kill()
        raise TimeoutError(f"the client printed only {self.lines()}")

    def finish(self) -> list[dict[str, Any]]:
        try:
            _, stderr = self.popen.communicate(timeout=self.timeout)
        finally:
            self.handle.close()
        assert self.popen.returncode == 0, stderr
        return self.lines()
