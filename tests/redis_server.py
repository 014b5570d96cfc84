"""A private redis-server for tests: its own free port on 127.0.0.1 and its own temp dir.

Never the machine's shared server: tests create, flush and kill only what they started. When
redis-server is not installed or will not start, the tests that need it skip and say why.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process. `persistent` turns on the append-only file (fsync always),
    so a restart on the same port and directory keeps every acknowledged write."""

    def __init__(self, binary: str, *, persistent: bool = False) -> None:
        self.binary = binary
        self.persistent = persistent
        self.dir = Path(tempfile.mkdtemp(prefix="a2a-redis-"))
        self.port = free_port()
        self.started = False  # once it has run, a restart keeps its port
        self.popen: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<RedisServer {self.url} running={self.running}>"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always",
            "--protected-mode", "no",
        ]  # fmt: skip
        with (self.dir / "redis.log").open("ab") as log:
            self.popen = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                if "Address already in use" in self.log() and not self.started:
                    # The free port was taken between choosing it and redis binding it (redis
                    # cannot bind port 0 and report it): choose again, once per start.
                    self.port = free_port()
                    self.started = True
                    self.start(timeout)
                    return
                raise RuntimeError(f"redis-server exited: {self.log()[-2000:]}")
            if self.ping():
                self.started = True
                return
            time.sleep(0.02)
        self.stop(signal.SIGKILL)
        raise TimeoutError(f"redis-server did not answer within {timeout}s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def log(self) -> str:
        return (self.dir / "redis.log").read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def pause(self) -> None:
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGCONT)

    def close(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.resume()
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_redis(*, persistent: bool = False) -> RedisServer:
    """A started private server; raises LookupError (with the reason) when there can be none."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise LookupError("redis-server is not installed (apt-get install redis-server)")
    last: Exception | None = None
    for _ in range(3):  # a free port can be taken between choosing and binding it
        server = RedisServer(binary, persistent=persistent)
        try:
            server.start()
            return server
        except (RuntimeError, TimeoutError, OSError) as exc:
            last = exc
            server.close()
    raise LookupError(f"redis-server would not start: {last}")
