"""Processes of the bench: start one, wait for the line that says where it listens, read
its CPU time and memory from /proc, stop it. `start_redis` starts a private redis-server
(never the machine's shared one) on a free port, in a temp dir, without persistence."""

from __future__ import annotations

import asyncio
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
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


def listening(port: int = 0) -> socket.socket:
    """A non-blocking TCP socket listening on 127.0.0.1:`port` (0: a free port), for a
    bench server to hand to uvicorn."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


def run_fast(main: Coroutine[Any, Any, None]) -> None:
    """Run a bench server's `main` on uvloop when it is installed (as the gateway runs),
    else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


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
    workdir: Path | None = None  # removed by stop()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu(self) -> float:
        """CPU seconds of the process and of its live descendants (`--workers` children)."""
        total, pending = 0.0, [self.pid]
        while pending:
            pid = pending.pop()
            try:
                total += cpu_seconds(pid)
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except (OSError, IndexError, ValueError):
                continue
            pending += [int(c) for c in children]
        return total

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
        if not os.environ.get("BENCH_KEEP_LOGS"):  # kept to see why a cell failed
            self.log.unlink(missing_ok=True)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


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


def redis_binary() -> tuple[str | None, str]:
    """(path of redis-server, "") or (None, why the Redis columns are skipped)."""
    binary = os.environ.get("BENCH_REDIS_SERVER") or shutil.which("redis-server")
    if binary is None:
        return None, "redis-server is not installed"
    return binary, ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def cluster_port() -> int:
    """A free port P with P + 10000 (a cluster node's bus port) free too, P <= 55535."""
    for _ in range(200):
        port = random.randrange(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free pair of ports for a cluster node")


def start_cluster(binary: str, primaries: int = 3, *, timeout: float = 30.0) -> list[Server]:
    """A private Redis Cluster of `primaries` nodes (named cluster1...), joined with
    `redis-cli --cluster create`; the first node's address is the URL gateways are given."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RuntimeError("redis-cli is not installed")
    nodes: list[Server] = []
    try:
        for index in range(primaries):
            nodes.append(start_redis(binary, name=f"cluster{index + 1}", cluster=True))
        ports = [n.address.rsplit(":", 1)[1].split("/")[0] for n in nodes]
        args = [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-yes"]
        done = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout[-1000:]!r}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [
                subprocess.run(
                    [cli, "-p", p, "cluster", "info"], capture_output=True, timeout=5, check=False
                ).stdout
                for p in ports
            ]
            if all(b"cluster_state:ok" in s for s in states):
                for node in nodes:
                    node.address = node.address.removesuffix("/0")
                return nodes
            time.sleep(0.05)
        raise RuntimeError(f"the cluster was not ok within {timeout}s")
    except BaseException:
        for node in nodes:
            node.stop()
        raise


def start_redis(
    binary: str, *, timeout: float = 10.0, name: str = "redis", cluster: bool = False
) -> Server:
    """A private redis-server on a free port of 127.0.0.1 (no RDB, no AOF, its own temp dir);
    its address is its redis:// URL. Tries three ports (one can be taken before it binds).
    `cluster`: a node with `--cluster-enabled yes`, not yet part of a cluster."""
    last = ""
    for _ in range(3):
        workdir = Path(tempfile.mkdtemp(prefix="a2a-bench-redis-"))
        port = cluster_port() if cluster else free_port()
        log = workdir / "redis.log"
        args = [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
        ]  # fmt: skip
        if cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        try:
            with log.open("wb") as out:
                popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        except OSError:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        server = Server(name, popen, log, f"redis://127.0.0.1:{port}/0", workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and popen.poll() is None:
            if redis_ping(port):
                return server
            time.sleep(0.02)
        last = server.output()[-2000:]
        server.stop()
    raise RuntimeError(f"redis-server would not start:\n{last}")
