"""Which `--workers` process holds a connection: the worker pids of a supervisor (the children
that hold its listening socket) and the one that accepted a given connection, found through
/proc/net/tcp and /proc/<pid>/fd (docs/testing.md, "Workers share one port")."""

from __future__ import annotations

import http.client
import json
import os
import time
from pathlib import Path

import httpx

from tests import a2a
from tests.servers import Process


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def socket_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server's end of the loopback connection from `client_port` (0: the
    listening socket)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            return int(fields[9])
    return None


def worker_pids(url: str, owner: Process, count: int) -> list[int]:
    """The `count` child processes of `owner` that hold its listening socket (uvicorn's
    supervisor has other children, such as multiprocessing's resource tracker)."""
    listening = socket_inode(httpx.URL(url).port or 0, 0)
    assert listening is not None, "the gateway's listening socket is not in /proc/net/tcp"
    deadline = time.monotonic() + 30  # spawning workers that import the gateway is slow here
    while True:
        found = children(owner.popen.pid)
        workers = [pid for pid in found if holder_of([pid], listening) is not None]
        if len(workers) == count:
            return workers
        assert time.monotonic() < deadline, f"{count} workers did not start: {found}"
        time.sleep(0.05)


def holder_of(pids: list[int], inode: int) -> int | None:
    """Which of `pids` holds the socket `inode` open."""
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:
                continue
    return None


def served_by(url: str, task_id: str, workers: list[int]) -> int:
    """One GetTask on a fresh connection; returns the worker process that accepted it."""
    parsed = httpx.URL(url)
    connection = http.client.HTTPConnection(parsed.host, parsed.port, timeout=30)
    try:
        body = json.dumps(a2a.request("GetTask", {"id": task_id}))
        headers = {"Content-Type": "application/json", **a2a.V1}
        connection.request("POST", parsed.path, body, headers)
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["result"]["id"] == task_id
        assert connection.sock is not None
        inode = socket_inode(parsed.port or 0, connection.sock.getsockname()[1])
        assert inode is not None, "the accepted connection is not in /proc/net/tcp"
        holder = holder_of(workers, inode)
        assert holder is not None, "no worker holds the accepted connection"
        return holder
    finally:
        connection.close()
