"""`make bench`: direct gRPC, the gateway and the a2a-sdk server on the same workload.

The gateway runs as three systems: `gateway` (JSON-RPC), `gateway_rest` (the same process
over its HTTP+JSON/REST binding) and `gateway_grpc` (the same process over its gRPC binding,
`lf.a2a.v1.A2AService`): same workloads in the same run, but `short` and `idle`.

Starts its own processes on 127.0.0.1 (the load agent, the gateway in front of it, the
a2a-sdk server, and client processes), runs every workload `BENCH_RUNS` times (default 3),
the three systems side by side within each run, and writes the medians to
bench/results/latest.json and latest.md (printed too).

When redis-server is installed (or `BENCH_REDIS_SERVER` names one; `--no-redis` or
`BENCH_NO_REDIS=1` leaves them out) two more systems run in every workload but `short`, on a
private redis-server of the bench (free port, no persistence) and the same agent:
`gateway_redis`, one gateway replica with `--store` on it, and `gateway_redis_x2`, two
replicas on one key prefix with the streams of a workload spread over both (stream k to
replica k mod 2; a fan-out's sender on the first replica and its subscribers on both, so half
of them read the task through Redis from the other one). Their CPU is the gateway processes'
and, separately, redis-server's.

Sizes scale with `BENCH_SCALE` (default 1; e.g. 0.01 for a smoke run of seconds).
The a2a-sdk server is bounded: its cost per event grows with stream length, so it
streams `SDK_LONG` events on the long stream and `SDK_PER_STREAM` per stream under
concurrency; its rates are events/s on exactly that (see the table's notes).

    python -m bench.run [--runs N] [--scale X] [--out DIR] [--only long,many,...] [--no-redis]
                        [--systems gateway,gateway_redis,...]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import re
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import finished as finished_memory
from bench import report
from bench.procs import (
    ROOT,
    Server,
    raise_nofile,
    redis_binary,
    start,
    start_cluster,
    start_redis,
)
from bench.tracing import tracing_cost
from bench.workload import Spec

AGENT_LINE = r"AGENT \S+ LISTENING (\S+)"
GATEWAY_LINE = r"a2a-gateway listening on (http://\S+)"
GRPC_LINE = re.compile(r"a2a-gateway gRPC on (\S+)")
SDK_LINE = r"SDK LISTENING (http://\S+)"


class Sizes:
    """Workload sizes at a scale (1 = the issue's sizes)."""

    def __init__(self, scale: float) -> None:
        def n(value: int, least: int) -> int:
            return max(least, int(value * scale))

        self.scale = scale
        self.long = n(100_000, 200)  # one stream
        self.short = n(1_000, 20)  # one stream, repeated `short_repeat` times
        self.short_repeat = 10
        self.sdk_long = n(10_000, 100)
        self.streams = n(100, 4)
        self.per_stream = n(1_000, 20)
        self.sdk_per_stream = n(200, 10)
        self.client_procs = 2 if self.streams >= 20 else 1
        self.subscribers = n(100, 4)
        self.fanout_events = n(1_000, 20)
        self.sdk_fanout_events = n(200, 10)
        self.fanout_delay = 3.0 if scale >= 0.5 else 1.0
        self.idle = n(10_000, 20)
        self.sdk_idle = n(2_000, 10)
        self.ttfe = n(50, 5)
        self.paced_streams = 10
        self.paced_rate = 100.0
        self.paced_events = n(500, 20)
        self.size = 200
        self.finished_tasks = n(50, 5)  # finished-task memory: tasks of 400 KB each

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


# --- processes -------------------------------------------------------------------------


def start_agent() -> Server:
    return start("agent", ["-m", "bench.agent"], AGENT_LINE)


def start_gateway(
    agent: Server,
    max_events: int,
    *,
    name: str = "gateway",
    store: Server | None = None,
    prefix: str = "",
    running: int = 1000,
    grpc: bool = False,
    cluster: bool = False,
    workers: int = 1,
) -> Server:
    """`running`: task turns at once (the default limit, 1000, unless idle needs more);
    `grpc`: with the gRPC binding on a free port too (see `grpc_address`)."""
    args = ["-m", "gateway", "serve", "--port", "0", "--log-level", "warning"]
    if grpc:
        args += ["--grpc-port", "0"]
    args += ["--agent", f"load={agent.address}", "--max-events-per-task", str(max_events)]
    args += ["--max-running-tasks", str(running)]
    args += ["--max-subscribers-per-task", str(max(100, running))]
    if store is not None:
        args += ["--store", store.address, "--store-prefix", prefix]
        if cluster:
            args.append("--store-cluster")
        if workers > 1:
            args += ["--workers", str(workers)]
    server = start(name, args, GATEWAY_LINE)
    server.address += "/"
    return server


def grpc_address(gateway: Server, timeout: float = 10.0) -> str:
    """The `host:port` of a gateway's gRPC binding (printed after its HTTP address)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = GRPC_LINE.search(gateway.output())
        if match:
            return match.group(1)
        time.sleep(0.02)
    raise TimeoutError(f"{gateway.name} printed no gRPC address:\n{gateway.output()}")


def start_sdk() -> Server:
    server = start("sdk", ["-m", "bench.sdk_server"], SDK_LINE)
    server.address += "/"
    return server


def client_command(
    kind: str, mode: str, url: str, streams: int, spec: Spec, **flags: Any
) -> list[str]:
    args = [sys.executable, "-m", "bench.client", kind, mode, "--url", url]
    args += ["--streams", str(streams), "--spec", spec.text()]
    if flags.get("latency"):
        args.append("--latency")
    args += ["--timeout", str(flags.get("timeout", 300))]
    if flags.get("task"):
        args += ["--task", str(flags["task"])]
    return args


def run_clients(
    kind: str,
    mode: str,
    url: str,
    streams: int,
    spec: Spec,
    *,
    procs: int = 1,
    latency: bool = False,
    timeout: float = 300,
) -> dict[str, Any]:
    """Run `procs` client processes sharing `streams`; merge their summaries."""
    shares = [streams // procs + (1 if i < streams % procs else 0) for i in range(procs)]
    popens = [
        subprocess.Popen(
            client_command(kind, mode, url, share, spec, latency=latency, timeout=timeout),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for share in shares
        if share
    ]
    outs = []
    for popen in popens:
        stdout, stderr = popen.communicate(timeout=timeout + 30)
        if popen.returncode != 0:
            raise RuntimeError(f"client failed ({popen.returncode}): {stderr.decode()[-2000:]}")
        outs.append(orjson.loads(stdout.strip().splitlines()[-1]))
    merged: dict[str, Any] = {
        "streams": sum(o["streams"] for o in outs),
        "events": sum(o["events"] for o in outs),
        "start": min(o["start"] for o in outs),
        "end": max(o["end"] for o in outs),
        "first_chunk": min((o["first_chunk"] for o in outs if o["first_chunk"]), default=0.0),
        "ttfe": [t for o in outs for t in o["ttfe"]],
        "incomplete": sum(o["incomplete"] for o in outs),
        "errors": sorted({e for o in outs for e in o["errors"]}),
        "late": sum(o.get("late", 0) for o in outs),
    }
    if latency:
        merged["latencies_ns"] = [n for o in outs for n in o["latencies_ns"]]
    if merged["incomplete"] or merged["errors"]:
        raise RuntimeError(
            f"{kind} {mode} on {url}: {merged['incomplete']} incomplete, errors {merged['errors']}"
        )
    return merged


@dataclass(frozen=True)
class Target:
    """One system under test: how clients reach it, and whose CPU is its CPU."""

    kind: str  # client kind: grpc (the agent), sse (JSON-RPC), rest or a2a-grpc (gRPC binding)
    url: str  # sse: the replicas' URLs, comma-separated (the client spreads streams)
    servers: tuple[str, ...]  # its server processes (not the agent, not redis-server)
    redis: tuple[str, ...] = ()  # the store processes it uses (redis-server, cluster nodes)


def cpu_of(servers: list[Server]) -> dict[str, float]:
    return {s.name: s.cpu() for s in servers}


def measured(
    servers: list[Server], work: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, float]]:
    before = cpu_of(servers)
    result = work()
    after = cpu_of(servers)
    return result, {name: after[name] - before[name] for name in before}


def rate(result: dict[str, Any]) -> float:
    return float(result["events"] / (result["end"] - result["start"]))


# --- workloads: each returns {system: {metric: value}} for one run ----------------------


class Bench:
    def __init__(
        self, sizes: Sizes, redis: str | None = None, systems: frozenset[str] = frozenset()
    ) -> None:
        """`redis`: the redis-server binary for the Redis systems (None: without them);
        `systems`: only these (empty: all; the servers of the others are not started)."""
        self.sizes = sizes

        def wanted(*names: str) -> bool:
            return not systems or any(name in systems for name in names)

        self.servers: list[Server] = []
        self.targets: dict[str, Target] = {}
        self.failures: list[dict[str, str]] = []
        self.skipped: list[str] = []
        max_events = max(sizes.long, 10_000) + 10
        try:
            self.agent = self.started(start_agent())
            gateway = self.started(start_gateway(self.agent, max_events, grpc=True))
            sdk = self.started(start_sdk())
            self.targets = {
                "direct": Target("grpc", self.agent.address, ("agent",)),
                "gateway": Target("sse", gateway.address, ("gateway",)),
                # the same gateway process, over its REST binding
                report.REST: Target("rest", gateway.address, ("gateway",)),
                "sdk": Target("sse", sdk.address, ("sdk",)),
                # the same gateway process, through its gRPC binding
                "gateway_grpc": Target("a2a-grpc", grpc_address(gateway), ("gateway",)),
            }
            on_redis = ("gateway_redis", "gateway_redis_x2", "gateway_redis_w2")
            if redis is not None and wanted(*on_redis):
                store = self.started(start_redis(redis))
                replicas = [
                    self.started(
                        start_gateway(self.agent, max_events, name=name, store=store, prefix=prefix)
                    )
                    for name, prefix in (
                        ("gateway_redis", "bench1:"),
                        ("gateway_redis_a", "bench2:"),
                        ("gateway_redis_b", "bench2:"),
                    )
                ]
                self.targets["gateway_redis"] = Target(
                    "sse", replicas[0].address, (replicas[0].name,), redis=("redis",)
                )
                self.targets["gateway_redis_x2"] = Target(
                    "sse",
                    ",".join(r.address for r in replicas[1:]),
                    tuple(r.name for r in replicas[1:]),
                    redis=("redis",),
                )
                if wanted("gateway_redis_w2"):
                    workers = self.started(
                        start_gateway(
                            self.agent,
                            max_events,
                            name="gateway_redis_w2",
                            store=store,
                            prefix="bench5:",
                            workers=2,
                        )
                    )
                    self.targets["gateway_redis_w2"] = Target(
                        "sse", workers.address, (workers.name,), redis=("redis",)
                    )
            if redis is not None and wanted("gateway_cluster", "gateway_cluster_x2"):
                self.add_cluster(redis, max_events)
            if systems:
                self.targets = {k: v for k, v in self.targets.items() if k in systems}
            warm = Spec(events=20, size=sizes.size)
            for target in self.targets.values():
                run_clients(target.kind, "stream", target.url, 2, warm)
        except BaseException:
            self.close()
            raise

    def add_cluster(self, redis: str, max_events: int) -> None:
        """The gateway on a private 3-primary Redis Cluster, one replica and two (skipped, and
        said so, when a cluster cannot be made here)."""
        try:
            nodes = [self.started(n) for n in start_cluster(redis)]
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            self.skipped.append(f"cluster systems: {str(exc)[:200]}")
            print(f"cluster systems skipped: {exc}", file=sys.stderr, flush=True)
            return
        names = tuple(n.name for n in nodes)
        replicas = [
            self.started(
                start_gateway(
                    self.agent, max_events, name=name, store=nodes[0], prefix=prefix, cluster=True
                )
            )
            for name, prefix in (
                ("gateway_cluster", "bench3:"),
                ("gateway_cluster_a", "bench4:"),
                ("gateway_cluster_b", "bench4:"),
            )
        ]
        self.targets["gateway_cluster"] = Target(
            "sse", replicas[0].address, (replicas[0].name,), redis=names
        )
        self.targets["gateway_cluster_x2"] = Target(
            "sse",
            ",".join(r.address for r in replicas[1:]),
            tuple(r.name for r in replicas[1:]),
            redis=names,
        )

    def cell(
        self, workload: str, system: str, work: Callable[[], dict[str, float]]
    ) -> dict[str, float] | None:
        """One system's measurement of a workload; a failure (a stream that ended early, a
        client that timed out) is recorded with its reason and the run goes on."""
        try:
            return work()
        except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as exc:
            reason = " ".join(str(exc).split())[:500]
            self.failures.append({"workload": workload, "system": system, "reason": reason})
            print(f"  FAILED {workload} on {system}: {reason}", file=sys.stderr, flush=True)
            return None

    def started(self, server: Server) -> Server:
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def cpu_us(
        self, target: Target, cpu: dict[str, float], count: float, key: str
    ) -> dict[str, float]:
        """`key`: the system's server CPU per unit of `count`, in us, and redis-server's."""
        out = {key: sum(cpu[name] for name in target.servers) * 1e6 / count}
        if target.redis:
            out[f"redis_{key}"] = sum(cpu[name] for name in target.redis) * 1e6 / count
        return out

    def throughput(
        self,
        mode: str,
        streams: int,
        events: dict[str, int],
        procs: int = 1,
        systems: tuple[str, ...] | None = None,
    ) -> dict[str, dict[str, float]]:
        """`systems` (default: all), the Redis ones with the gateway's count of events."""
        out: dict[str, dict[str, float]] = {}
        for system, target in self.targets.items():
            if systems is not None and system not in systems:
                continue
            spec = Spec(events=events.get(system, events["gateway"]), size=self.sizes.size)

            def work(target: Target = target, spec: Spec = spec) -> dict[str, float]:
                result, cpu = measured(
                    self.servers,
                    functools.partial(
                        run_clients, target.kind, mode, target.url, streams, spec, procs=procs
                    ),
                )
                return {
                    "events_per_s": rate(result),
                    "events": result["events"],
                    **self.cpu_us(target, cpu, result["events"], "cpu_us_per_event"),
                    "agent_cpu_us_per_event": cpu["agent"] * 1e6 / result["events"],
                }

            found = self.cell(f"{mode} x{streams}", system, work)
            if found is not None:
                out[system] = found
        return out

    def long(self) -> dict[str, dict[str, float]]:
        s = self.sizes
        return self.throughput(
            "stream", 1, {"direct": s.long, "gateway": s.long, "sdk": s.sdk_long}
        )

    def short(self) -> dict[str, dict[str, float]]:
        s = self.sizes
        events = {"direct": s.short, "gateway": s.short, "sdk": s.short}
        return self.throughput("serial", s.short_repeat, events, systems=report.SYSTEMS)

    def many(self) -> dict[str, dict[str, float]]:
        s = self.sizes
        events = {"direct": s.per_stream, "gateway": s.per_stream, "sdk": s.sdk_per_stream}
        return self.throughput("stream", s.streams, events, procs=s.client_procs)

    def fanout(self) -> dict[str, dict[str, float]]:
        s = self.sizes
        out: dict[str, dict[str, float]] = {}
        for system, target in self.targets.items():
            if system == "direct":
                continue
            events = s.sdk_fanout_events if system == "sdk" else s.fanout_events
            spec = Spec(events=events, size=s.size, delay=s.fanout_delay)

            def work(
                target: Target = target, spec: Spec = spec, n: int = events
            ) -> dict[str, float]:
                result, cpu = measured(
                    self.servers,
                    functools.partial(
                        run_clients, target.kind, "fanout", target.url, s.subscribers, spec
                    ),
                )
                window = result["end"] - result["first_chunk"]
                return {
                    "deliveries_per_s": n * s.subscribers / window,
                    "events": result["events"],
                    "late_subscribers": result["late"],
                    **self.cpu_us(target, cpu, result["events"], "cpu_us_per_delivery"),
                }

            found = self.cell("fanout", system, work)
            if found is not None:
                out[system] = found
        return out

    def ttfe(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        spec = Spec(events=1, size=self.sizes.size)
        for system, target in self.targets.items():

            def work(target: Target = target) -> dict[str, float]:
                result = run_clients(target.kind, "serial", target.url, self.sizes.ttfe, spec)
                return {"ttfe_ms_p50": statistics.median(sorted(result["ttfe"])) * 1e3}

            found = self.cell("ttfe", system, work)
            if found is not None:
                out[system] = found
        return out

    def latency(self) -> dict[str, dict[str, float]]:
        s = self.sizes
        spec = Spec(events=s.paced_events, size=s.size, rate=s.paced_rate)
        out: dict[str, dict[str, float]] = {}
        for system, target in self.targets.items():

            def work(target: Target = target) -> dict[str, float]:
                result = run_clients(
                    target.kind, "stream", target.url, s.paced_streams, spec, latency=True
                )
                values = sorted(result["latencies_ns"])
                return {
                    "p50_ms": percentile(values, 50) / 1e6,
                    "p99_ms": percentile(values, 99) / 1e6,
                    "samples": len(values),
                }

            found = self.cell("latency", system, work)
            if found is not None:
                out[system] = found
        return out


def percentile(values: list[int], p: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))
    return float(values[index])


def idle(sizes: Sizes, redis: str | None = None) -> dict[str, dict[str, float]]:
    """Memory per idle open stream (each its own running task), in fresh server processes;
    with `redis` (the binary) also one gateway replica on a fresh redis-server, whose memory
    is reported apart. Two replicas are not measured: each holds its own streams alike."""
    out: dict[str, dict[str, float]] = {}
    hold = Spec(hold=600, size=sizes.size)
    systems = [("gateway", sizes.idle), ("sdk", sizes.sdk_idle)]
    if redis is not None:
        systems.append(("gateway_redis", sizes.idle))
    for system, count in systems:
        servers: list[Server] = []
        try:
            store: Server | None = None
            if system == "sdk":
                server = start_sdk()
                servers.append(server)
            else:
                agent = start_agent()
                servers.append(agent)
                if system == "gateway_redis":
                    assert redis is not None
                    store = start_redis(redis)
                    servers.append(store)
                server = start_gateway(
                    agent, 10_000, store=store, prefix="idle:", running=count + 100
                )
                servers.append(server)
            run_clients("sse", "stream", server.address, 2, Spec(events=20, size=sizes.size))
            time.sleep(0.5)

            def rss(server: Server = server, store: Server | None = store) -> tuple[int, int]:
                return server.rss(), store.rss() if store is not None else 0

            before = rss()
            opened, seconds, after = hold_open(server.address, count, hold, rss)
            out[system] = {
                "streams": opened,
                "kb_per_stream": (after[0] - before[0]) / max(1, opened) / 1024,
                "open_seconds": seconds,
            }

            if store is not None:
                out[system]["redis_kb_per_stream"] = (after[1] - before[1]) / max(1, opened) / 1024
        finally:
            for started in reversed(servers):
                started.stop(timeout=5)
    out["gateway_shapes"] = other_idle_shapes(sizes.idle, sizes.size)
    return out


def finished(sizes: Sizes) -> dict[str, dict[str, float]]:
    """Finished-task memory (bench/finished.py) in a fresh gateway process."""
    agent = start_agent()
    gateway = start_gateway(agent, 10_000)
    try:
        tasks = sizes.finished_tasks
        return {"gateway": finished_memory.measure(gateway, tasks=tasks, events=100, size=4096)}
    finally:
        gateway.stop(timeout=5)
        agent.stop(timeout=5)


def other_idle_shapes(count: int, size: int) -> dict[str, float]:
    """The two other shapes of "idle", each in fresh processes (RSS never gives back what a
    previous measurement freed): KB per extra subscriber of ONE task (no call of its own),
    and KB per task waiting for input (no call, no stream)."""
    out: dict[str, float] = {}
    for shape in ("subscribers", "waiting"):
        agent = start_agent()
        server = start_gateway(agent, 10_000, running=count + 100)
        try:
            run_clients("sse", "stream", server.address, 2, Spec(events=20, size=size))
            time.sleep(0.5)
            out.update(_shape(shape, server, count, size))
        finally:
            server.stop(timeout=5)
            agent.stop(timeout=5)
    return out


def _shape(shape: str, server: Server, count: int, size: int) -> dict[str, float]:
    url = server.address

    def rss() -> tuple[int, int]:
        return server.rss(), 0

    if shape == "waiting":
        before = rss()
        waiting, _, after = hold_open(url, count, Spec(ask=1, size=size), rss, mode="waiting")
        return {
            "waiting": waiting,
            "kb_per_waiting_task": (after[0] - before[0]) / max(1, waiting) / 1024,
        }

    message = {"messageId": "held", "role": "ROLE_USER", "parts": [{"text": Spec(hold=600).text()}]}
    params: dict[str, Any] = {"message": message, "configuration": {"returnImmediately": True}}
    request = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": params}
    reply = httpx.post(url, json=request, headers={"A2A-Version": "1.0"}, timeout=30).json()
    task = reply["result"]["task"]["id"]
    before = rss()
    subscribers, _, after = hold_open(url, count, Spec(), rss, task=task)
    per_subscriber = (after[0] - before[0]) / max(1, subscribers) / 1024
    return {"subscribers": subscribers, "kb_per_subscriber": per_subscriber}


def hold_open(
    url: str,
    count: int,
    spec: Spec,
    rss: Callable[[], tuple[int, int]],
    timeout: float = 180,
    *,
    mode: str = "idle",
    task: str = "",
) -> tuple[int, float, tuple[int, int]]:
    """Open `count` idle streams (or, by `mode`, waiting tasks) in a client process;
    (opened, seconds, `rss()` while open)."""
    popen = subprocess.Popen(
        client_command("sse", mode, url, count, spec, timeout=timeout, task=task),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert popen.stdout is not None
    assert popen.stdin is not None
    assert popen.stderr is not None
    try:
        ready, _, _ = select.select([popen.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"{count} idle streams did not open within {timeout}s")
        line = popen.stdout.readline()
        if not line:
            raise RuntimeError(f"idle client failed: {popen.stderr.read().decode()[-2000:]}")
        status = orjson.loads(line)
        time.sleep(0.5)
        return int(status["open"]), float(status["seconds"]), rss()
    finally:
        popen.stdin.write(b"close\n")
        popen.stdin.flush()
        try:
            popen.wait(30)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)


WORKLOADS = ("long", "short", "many", "fanout", "ttfe", "latency", "idle", "finished", "tracing")
ALONE = ("idle", "finished", "tracing")  # in fresh processes, after the others


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
    }


def medians(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per system and metric, the median over the runs that measured it (a failed cell is
    missing from its run)."""
    out: dict[str, dict[str, float]] = {}
    for system in dict.fromkeys(s for run in runs for s in run):
        cells = [run[system] for run in runs if system in run]
        out[system] = {
            metric: statistics.median(cell[metric] for cell in cells if metric in cell)
            for metric in cells[0]
        }
    return out


def usable_redis() -> tuple[str | None, str]:
    """(redis-server binary, "") when a private one starts here, else (None, why not)."""
    binary, why = redis_binary()
    if binary is None:
        return None, why
    try:
        start_redis(binary).stop()
    except (OSError, RuntimeError) as exc:
        return None, f"redis-server would not start ({str(exc).strip()[:200]})"
    return binary, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the bench.")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1")))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="workloads to run")
    parser.add_argument(
        "--no-redis",
        action="store_true",
        default=os.environ.get("BENCH_NO_REDIS", "") not in ("", "0"),
        help="without the gateway-over-Redis systems (also BENCH_NO_REDIS=1)",
    )
    parser.add_argument(
        "--systems",
        default=os.environ.get("BENCH_SYSTEMS", ""),
        help="only these systems, comma-separated, e.g. gateway,gateway_redis (default: all)",
    )
    args = parser.parse_args(argv)
    raise_nofile()
    only = [w for w in args.only.split(",") if w]
    unknown = set(only) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {sorted(unknown)}")
    sizes = Sizes(args.scale)
    redis, skipped = (None, "--no-redis") if args.no_redis else usable_redis()
    if skipped:
        print(f"Redis systems skipped: {skipped}", file=sys.stderr, flush=True)
    started = time.monotonic()
    runs: dict[str, list[dict[str, dict[str, float]]]] = {w: [] for w in only}
    failures: list[dict[str, str]] = []
    systems: list[str] = []
    for index in range(args.runs):
        print(f"run {index + 1}/{args.runs}", file=sys.stderr, flush=True)
        shared = [w for w in only if w not in ALONE]
        chosen = frozenset(s for s in args.systems.split(",") if s)
        bench = Bench(sizes, redis, chosen) if shared else None
        try:
            for workload in shared:
                began = time.monotonic()
                runs[workload].append(getattr(bench, workload)())
                print(f"  {workload}: {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
        finally:
            if bench is not None:
                failures += [{**f, "run": str(index + 1)} for f in bench.failures]
                systems = [s for s in bench.targets if s in report.REDIS_SYSTEMS]
                skipped = "; ".join(filter(None, [skipped, *bench.skipped]))
                bench.close()
        if "idle" in only:
            began = time.monotonic()
            runs["idle"].append(idle(sizes, redis))
            print(f"  idle: {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
        if "finished" in only:
            began = time.monotonic()
            runs["finished"].append(finished(sizes))
            print(f"  finished: {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
        if "tracing" in only:
            began = time.monotonic()
            runs["tracing"].append(tracing_cost(sizes))
            print(f"  tracing: {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
    results = {
        "machine": machine(),
        "sizes": sizes.as_dict(),
        "runs": args.runs,
        "redis": {"systems": systems if redis else [], "skipped": skipped},
        "failures": failures,
        "seconds": time.monotonic() - started,
        "median": {w: medians(r) for w, r in runs.items()},
        "all_runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    table = report.markdown(results)
    (args.out / "latest.json").write_bytes(
        orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    (args.out / "latest.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
