"""The workloads run on long-lived systems started once per run (`Bench`): direct gRPC, the
gateway over its three bindings, the a2a-sdk server and, with redis-server, the gateway on
Redis and on Redis Cluster. Each workload returns {system: {metric: value}} for one run."""

from __future__ import annotations

import functools
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import report
from bench.launch import grpc_address, run_clients, start_agent, start_gateway, start_sdk
from bench.procs import Server, start_cluster, start_redis
from bench.workload import Sizes, Spec


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


class Bench:
    def __init__(self, sizes: Sizes, redis: str | None = None) -> None:
        """`redis`: the redis-server binary for the Redis systems (None: without them)."""
        self.sizes = sizes
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
            if redis is not None:
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
                self.add_cluster(redis, max_events)
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
