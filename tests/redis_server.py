"""A private redis-server (or Redis Cluster) for tests: free ports on 127.0.0.1, own temp dirs.

Never the machine's shared server: tests create, flush and kill only what they started. When
redis-server is not installed or will not start, the tests that need it skip and say why.
"""

from __future__ import annotations

import os
import random
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


def free_cluster_port() -> int:
    """A free port P with P + 10000 free too (a cluster node's bus port) and P <= 55535."""
    for _ in range(200):
        port = random.randrange(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise OSError("no free pair of ports for a cluster node")


class RedisServer:
    """One redis-server process. `persistent` turns on the append-only file (fsync always),
    so a restart on the same port and directory keeps every acknowledged write."""

    def __init__(self, binary: str, *, persistent: bool = False, cluster: bool = False) -> None:
        self.binary = binary
        self.persistent = persistent
        self.cluster = cluster
        self.dir = Path(tempfile.mkdtemp(prefix="a2a-redis-"))
        self.port = free_cluster_port() if cluster else free_port()
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
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            args += ["--cluster-node-timeout", "1000"]  # failover within ~2 s in tests
            # A replica's first sync would otherwise wait 5 s for more replicas to share it.
            args += ["--repl-diskless-sync-delay", "0"]
        with (self.dir / "redis.log").open("ab") as log:
            self.popen = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                if "Address already in use" in self.log() and not self.started:
                    # The free port was taken between choosing it and redis binding it (redis
                    # cannot bind port 0 and report it): choose again, once per start.
                    self.port = free_cluster_port() if self.cluster else free_port()
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


class RedisCluster:
    """A private Redis Cluster: `primaries` redis-servers with `--cluster-enabled yes` (and
    `replicas` replicas of each) on free loopback ports, joined by `redis-cli --cluster create`.
    `url` names the first primary; clients discover the rest."""

    def __init__(self, binary: str, cli: str, *, primaries: int = 3, replicas: int = 0) -> None:
        self.cli = cli
        self.nodes = [RedisServer(binary, cluster=True) for _ in range(primaries * (1 + replicas))]
        self.replicas = replicas

    def __repr__(self) -> str:
        return f"<RedisCluster {len(self.nodes)} nodes {self.url}>"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def start(self, timeout: float = 30.0) -> None:
        for node in self.nodes:
            node.start()
        args = [self.cli, "--cluster", "create"]
        args += [f"127.0.0.1:{n.port}" for n in self.nodes]
        args += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        done = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout[-2000:]!r}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.info(n).get("cluster_state") == "ok" for n in self.nodes):
                break
            time.sleep(0.05)
        else:
            raise TimeoutError(f"the cluster was not ok within {timeout}s")
        # A replica that has not finished its first sync refuses to fail over ("Disconnected
        # from master for longer than allowed"): its primary's slots would have no owner.
        while time.monotonic() < deadline:
            if all(self.in_sync(n) for n in self.nodes):
                return
            time.sleep(0.05)
        raise TimeoutError(f"the replicas were not in sync within {timeout}s")

    def in_sync(self, node: RedisServer) -> bool:
        """Whether `node` is a primary or a replica whose link to its primary is up."""
        lines = self.command(node, "info", "replication").splitlines()
        found = dict(line.strip().split(":", 1) for line in lines if ":" in line)
        return found.get("role") == "master" or found.get("master_link_status") == "up"

    def command(self, node: RedisServer, *words: str) -> str:
        args = [self.cli, "-p", str(node.port), *words]
        done = subprocess.run(args, capture_output=True, timeout=10, check=False)
        return done.stdout.decode(errors="replace")

    def info(self, node: RedisServer) -> dict[str, str]:
        lines = self.command(node, "cluster", "info").splitlines()
        return dict(line.strip().split(":", 1) for line in lines if ":" in line)

    def close(self) -> None:
        for node in self.nodes:
            node.close()


def start_cluster(*, primaries: int = 3, replicas: int = 0) -> RedisCluster:
    """A started private cluster; raises LookupError (with the reason) when there can be none."""
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        raise LookupError("redis-server / redis-cli are not installed (apt-get install redis)")
    last: Exception | None = None
    for _ in range(3):  # a free port can be taken between choosing and binding it
        cluster = RedisCluster(binary, cli, primaries=primaries, replicas=replicas)
        try:
            cluster.start()
            return cluster
        except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as exc:
            last = exc
            cluster.close()
    raise LookupError(f"a Redis Cluster would not start: {last}")
