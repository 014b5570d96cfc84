"""The `serve` flags laid over the raw configuration, before it is validated.

Flags take precedence over the file and the environment: `load` (config.py) applies them last.
Each flag given sets its key (`--port` sets `listen.port`); `--agent NAME=...` gives the file's
agent of that name these targets, or adds the agent; `--deadline` applies to every agent; an
agent's card overrides (`--card-file`, then `--card-override`) merge into its `card`. A flag
that cannot be applied (a bad `--api-key-hash`, an unknown agent name) raises ConfigError.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.ops.config import ConfigError
from gateway.ops.settings import parse_api_key


def card_overrides(
    names: list[str], files: list[str], fields: list[str]
) -> dict[str, dict[str, Any]]:
    """Per agent, the card overrides of `--card-file NAME=PATH` then `--card-override`."""
    out: dict[str, dict[str, Any]] = {name: {} for name in names}

    def agent(name: str, option: str) -> dict[str, Any]:
        if name not in out:
            raise ValueError(f"{option}: no agent named {name!r}")
        return out[name]

    for value in files:
        name, sep, path = value.partition("=")
        if not sep:
            raise ValueError(f"--card-file {value!r} is not NAME=PATH")
        try:
            loaded = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--card-file {value!r}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"--card-file {value!r}: the file must hold a JSON object")
        agent(name, "--card-file").update(loaded)
    for value in fields:
        target, sep, raw = value.partition("=")
        name, dot, field = target.partition(".")
        if not sep or not dot or not field:
            raise ValueError(f"--card-override {value!r} is not NAME.FIELD=VALUE")
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw
        if not isinstance(parsed, dict | list | str):
            parsed = raw  # `version=2` means the string "2"
        agent(name, "--card-override")[field] = parsed
    return out


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    """The mapping at `key` (created when absent); a non-mapping is left for validation."""
    value = data.setdefault(key, {})
    return value if isinstance(value, dict) else {}


def flag_overrides(args: argparse.Namespace) -> Callable[[dict[str, Any]], None]:
    """Apply the flags to the raw configuration (they take precedence over file and env)."""

    def apply(data: dict[str, Any]) -> None:
        agents = data.setdefault("agents", [])
        if not isinstance(agents, list):
            return
        for name, targets in args.agents:
            known = [a for a in agents if isinstance(a, dict) and a.get("name") == name]
            for agent in known:
                agent.pop("target", None)
                agent["targets"] = targets
            if not known:
                agents.append({"name": name, "targets": targets})
        if args.deadline is not None:
            for agent in agents:
                if isinstance(agent, dict):
                    agent["deadline"] = args.deadline
        listen = (
            ("host", args.host),
            ("port", args.port),
            ("grpc_port", args.grpc_port),
            ("grpc_cert_file", args.grpc_cert_file),
            ("grpc_key_file", args.grpc_key_file),
            ("workers", args.workers),
        )
        for key, value in listen:
            if value is not None:
                _section(data, "listen")[key] = value
        if isinstance(data.get("store"), str):
            data["store"] = {"url": data["store"]}
        store = (
            ("url", args.store),
            ("prefix", args.store_prefix),
            ("lease", args.lease),
            ("cluster", args.store_cluster),
        )
        for key, value in store:
            if value is not None:
                _section(data, "store")[key] = value
        limits = (
            ("keepalive", args.keepalive),
            ("max_events_per_task", args.max_events_per_task),
            ("max_subscribers_per_task", args.max_subscribers_per_task),
            ("finished_task_ttl", args.task_ttl),
            ("max_running_tasks", args.max_running_tasks),
            ("send_timeout", args.send_timeout),
        )
        for key, value in limits:
            if value is not None:
                _section(data, "limits")[key] = value
        allow = args.forwarded_allow_ips
        http = (
            ("public_url", args.public_url),
            ("forwarded_allow_ips", [ip.strip() for ip in allow.split(",")] if allow else None),
            ("card_max_age", args.card_max_age),
        )
        for key, value in http:
            if value is not None:
                _section(data, "http")[key] = value
        if args.max_body_bytes is not None:
            _section(data, "limits")["max_body_bytes"] = args.max_body_bytes
        auth = (
            ("jwt_hs256_secret_file", args.jwt_hs256_secret_file),
            ("jwt_public_key_file", args.jwt_public_key_file),
            ("jwks_file", args.jwks_file),
            ("jwt_audience", args.jwt_audience),
            ("jwt_issuer", args.jwt_issuer),
            ("principal_claim", args.jwt_principal_claim),
            ("leeway", args.jwt_leeway),
            ("api_key_header", args.api_key_header),
        )
        for key, value in auth:
            if value is not None:
                _section(data, "auth")[key] = value
        if args.api_keys:
            try:
                keys = [parse_api_key(k) for k in args.api_keys]
            except ValueError as exc:
                raise ConfigError([("--api-key-hash", str(exc))]) from None
            _section(data, "auth")["api_keys"] = [
                {"principal": k.principal, "sha256": k.sha256} for k in keys
            ]
        per_principal = (
            ("rate", args.rate),
            ("burst", args.burst),
            ("streams", args.max_streams),
            ("tasks", args.max_tasks),
            ("body_timeout", args.body_timeout),
            ("header_timeout", args.header_timeout),
            ("max_header_bytes", args.max_header_bytes),
        )
        for key, value in per_principal:
            if value is not None:
                _section(data, "per_principal")[key] = value
        for key, value in (("mode", args.metrics), ("port", args.metrics_port)):
            if value is not None:
                _section(data, "metrics")[key] = value
        if args.cors_origins:
            data["cors_origins"] = list(args.cors_origins)
        if args.allowed_hosts:
            data["allowed_hosts"] = list(args.allowed_hosts)
        if args.shutdown_grace is not None:
            data["shutdown_grace"] = args.shutdown_grace
        signing = (("key_file", args.card_signing_key), ("kid", args.card_signing_kid))
        for key, value in signing:
            if value is not None:
                _section(data, "card_signing")[key] = value
        traces = (
            ("endpoint", args.otlp_endpoint),
            ("protocol", args.otlp_protocol),
            ("sampling_ratio", args.trace_sampling_ratio),
        )
        for key, value in traces:
            if value is not None:
                _section(data, "tracing")[key] = value
        if args.otlp_endpoint is not None:
            _section(data, "tracing")["enabled"] = True
        if args.push_allow:
            _section(data, "push")["allow_hosts"] = list(args.push_allow)
        push = (
            ("allow_http", args.push_allow_http),
            ("signing", args.push_signing or (True if args.push_signing_key else None)),
            ("signing_key_file", args.push_signing_key),
            ("enabled", False if args.no_push else None),
        )
        for key, value in push:
            if value is not None:
                _section(data, "push")[key] = value
        if args.rest is not None:
            data["rest"] = args.rest
        if args.card_files or args.card_overrides:
            by_name = {a["name"]: a for a in agents if isinstance(a, dict) and "name" in a}
            try:
                cards = card_overrides(list(by_name), args.card_files, args.card_overrides)
            except ValueError as exc:
                raise ConfigError([("card overrides", str(exc))]) from None
            for name, fields in cards.items():
                if fields:
                    card = by_name[name].setdefault("card", {})
                    if isinstance(card, dict):
                        card.update(fields)

    return apply
