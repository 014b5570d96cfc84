"""Processes of the bench: start one, wait for the line that says where it listens, read
its CPU time and memory from /proc, stop it."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def raise_nofile() -> int:
    """Raise this process's soft limit of open files to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def server_options() -> dict[str, Any]:
    """uvicorn options for the fastest event loop and HTTP parser installed."""
    options: dict[str, Any] = {}
    if find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    if find_spec("httptools") is not None:
        options["http"] = "httptools"
    return options


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class Server:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    address: str = ""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.log.unlink(missing_ok=True)


def start(name: str, args: list[str], pattern: str, *, timeout: float = 30.0) -> Server:
    """Start `python args...`; wait until its output matches `pattern` (group 1: address)."""
    fd, path = tempfile.mkstemp(prefix=f"a2a-bench-{name}-", suffix=".log")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with os.fdopen(fd, "wb") as out:
        popen = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    server = Server(name, popen, Path(path))
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = regex.search(server.output())
        if match:
            server.address = match.group(1)
            return server
        if popen.poll() is not None:
            raise RuntimeError(f"{name} exited with {popen.returncode}:\n{server.output()}")
        time.sleep(0.02)
    output = server.output()
    server.stop()
    raise TimeoutError(f"{name} did not start within {timeout}s:\n{output}")
