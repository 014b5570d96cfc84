"""The configuration: file, environment and flags, and the precise refusals of bad files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.ops.config import ConfigError, load
from gateway.ops.flags import build_parser
from gateway.ops.overrides import flag_overrides
from gateway.ops.settings import TlsSpec
from tests.servers import ROOT, write_config

GOOD: dict[str, Any] = {
    "listen": {"host": "127.0.0.1", "port": 9000},
    "default_agent": "two",
    "forward_headers": ["X-Tenant-Id"],
    "limits": {"keepalive": 5, "max_events_per_task": 100},
    "agents": [
        {"name": "one", "target": "127.0.0.1:50051", "deadline": 30},
        {
            "name": "two",
            "targets": ["localhost:50052", "[::1]:50053"],
            "tls": {"ca_file": "ca.pem", "server_name": "two.internal"},
            "card": {"description": "Overridden"},
        },
    ],
}


def test_a_good_file_becomes_settings(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    settings = load(write_config(tmp_path / "g.yaml", GOOD), environ={})
    assert (settings.host, settings.port, settings.default_agent) == ("127.0.0.1", 9000, "two")
    assert settings.forward_headers == ("x-tenant-id",)
    assert (settings.keepalive, settings.max_events_per_task) == (5.0, 100)
    assert settings.max_body_bytes == 16 * 1024 * 1024
    one, two = settings.agents
    assert (one.targets, one.target, one.deadline, one.tls) == (
        ("127.0.0.1:50051",),
        "127.0.0.1:50051",
        30.0,
        None,
    )
    assert two.targets == ("localhost:50052", "[::1]:50053")
    assert two.tls == TlsSpec(ca_file=str(tmp_path / "ca.pem"), server_name="two.internal")
    assert two.card_overrides == {"description": "Overridden"}


def test_environment_overrides_the_file_and_flags_override_both(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    path = write_config(tmp_path / "g.yaml", GOOD)
    environ = {
        "A2A_GATEWAY__LISTEN__PORT": "9100",
        "A2A_GATEWAY__LIMITS__KEEPALIVE": "2.5",
        "A2A_GATEWAY__AGENTS__0__TARGETS": "127.0.0.1:1,127.0.0.1:2",
        "A2A_GATEWAY__AGENTS__2__NAME": "three",
        "A2A_GATEWAY__AGENTS__2__TARGET": "127.0.0.1:3",
        "A2A_GATEWAY__FORWARD_HEADERS": "[x-a, x-b]",
        "OTHER": "ignored",
    }
    settings = load(path, environ=environ)
    assert (settings.port, settings.keepalive) == (9100, 2.5)
    assert settings.agents[0].targets == ("127.0.0.1:1", "127.0.0.1:2")
    assert settings.agents[2].name == "three"
    assert settings.forward_headers == ("x-a", "x-b")

    args = build_parser().parse_args(
        ["serve", "--port", "0", "--agent", "two=127.0.0.1:7", "--agent", "four=127.0.0.1:8"]
    )
    settings = load(path, environ=environ, overrides=flag_overrides(args))
    assert settings.port == 0
    two = settings.agents[1]
    assert (two.targets, two.tls is not None) == (("127.0.0.1:7",), True)
    assert [a.name for a in settings.agents] == ["one", "two", "three", "four"]


def test_flags_alone_still_work() -> None:
    args = build_parser().parse_args(["serve", "--agent", "a=127.0.0.1:1", "--deadline", "3"])
    settings = load(None, environ={}, overrides=flag_overrides(args))
    assert [(a.name, a.target, a.deadline) for a in settings.agents] == [("a", "127.0.0.1:1", 3.0)]


def test_every_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    bad = {
        "listen": {"port": 70000, "hots": "x"},
        "forward_headers": ["Authorization", "x-ok", "Connection"],
        "agents": [
            {"name": "Bad Name", "targets": ["nohost:"], "deadline": "soon", "tls": {}},
            {"name": "ok", "target": "127.0.0.1:1", "tls": {"cert_file": "c.pem"}},
            {"name": "ok2", "target": "127.0.0.1:1", "tls": {"cert_file": "real.pem"}},
        ],
    }
    (tmp_path / "real.pem").write_text("x")
    with pytest.raises(ConfigError) as caught:
        load(write_config(tmp_path / "g.yaml", bad), environ={"A2A_GATEWAY__LIMITS__X": "1"})
    paths = [path for path, _ in caught.value.problems]
    assert paths == [
        "agents[0].name",
        "agents[0].targets[0]",
        "agents[0].deadline",
        "agents[1].tls.cert_file",
        "agents[2].tls",
        "forward_headers[0]",
        "forward_headers[2]",
        "listen.port",
        "listen.hots",
        "limits.x",
    ]
    assert "did you mean 'host'?" in str(caught.value)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--port", "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


@pytest.mark.parametrize(
    ("agents", "expected"),
    [
        (
            [{"name": "a", "target": "127.0.0.1:1"}, {"name": "a", "target": "127.0.0.1:2"}],
            "agents[1].name: duplicate agent name 'a' (also agents[0])",
        ),
        (
            [{"name": "a", "targets": ["127.0.0.1:1", "127.0.0.1:port"]}],
            "agents[0].targets[1]: '127.0.0.1:port' is not HOST:PORT",
        ),
        (
            [{"name": "a", "target": "127.0.0.1:1", "tls": {"ca_file": "missing-ca.pem"}}],
            "agents[0].tls.ca_file: file not found: ",
        ),
        (
            [{"name": "a", "target": "127.0.0.1:1", "dedline": 5}],
            "agents[0].dedline: unknown key (did you mean 'deadline'?)",
        ),
        (
            [{"name": "a", "target": "127.0.0.1:1", "deadline": [5]}],
            "agents[0].deadline: Input should be a valid number",
        ),
    ],
)
def test_a_bad_file_is_refused_before_listening(
    tmp_path: Path, agents: list[dict[str, Any]], expected: str
) -> None:
    path = write_config(tmp_path / "bad.yaml", {"agents": agents})
    result = run_cli("--config", str(path))
    assert result.returncode == 2
    assert "listening" not in result.stdout
    assert f"invalid configuration ({path})" in result.stderr
    assert expected in result.stderr


def test_unparsable_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("agents:\n  - name: a\n    target: [unclosed\n")
    result = run_cli("--config", str(path))
    assert result.returncode == 2
    assert "not valid YAML: line 4" in result.stderr


def test_a_bad_environment_value_is_refused() -> None:
    env = {**os.environ, "A2A_GATEWAY__LIMITS__KEEPALIVE": "often"}
    result = run_cli("--agent", "a=127.0.0.1:1", env=env)
    assert result.returncode == 2
    assert "limits.keepalive: Input should be a valid number" in result.stderr


def test_security_operations_and_http_sections_reach_the_settings(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s" * 40)
    digest = "a" * 64
    path = tmp_path / "gateway.yaml"
    path.write_text(
        f"""
agents: [{{name: a, target: "127.0.0.1:1"}}]
auth:
  jwt_hs256_secret_file: secret
  jwt_audience: gateway
  api_keys: [{{principal: ci, sha256: "{digest}"}}]
per_principal: {{rate: 5, streams: 2}}
metrics: {{mode: auth}}
cors_origins: ["http://localhost:3000"]
shutdown_grace: 4
http: {{public_url: "https://example.com/a2a", card_max_age: 60}}
limits: {{max_subscribers_per_task: 3, finished_task_ttl: 9}}
"""
    )
    settings = load(path, environ={})
    assert settings.auth.enabled
    assert settings.auth.jwt_hs256_secret_file == str(tmp_path / "secret")
    assert settings.auth.api_keys[0].principal == "ci"
    assert (settings.per_principal.rate, settings.per_principal.streams) == (5.0, 2)
    assert settings.metrics == "auth"
    assert settings.cors_origins == ("http://localhost:3000",)
    assert settings.shutdown_grace == 4.0
    assert settings.public_url == "https://example.com/a2a"
    assert settings.card_max_age == 60
    assert (settings.max_subscribers_per_task, settings.finished_task_ttl) == (3, 9.0)


def test_jwt_without_an_audience_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s" * 40)
    path = tmp_path / "gateway.yaml"
    path.write_text(
        'agents: [{name: a, target: "127.0.0.1:1"}]\nauth: {jwt_hs256_secret_file: secret}\n'
    )
    with pytest.raises(ConfigError, match="jwt_audience"):
        load(path, environ={})


def test_auth_flags_map_onto_the_auth_section(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s" * 40)
    args = build_parser().parse_args(
        [
            "serve",
            "--agent=a=127.0.0.1:1",
            f"--jwt-hs256-secret-file={secret}",
            "--jwt-audience=gw",
            f"--api-key-hash=bob={'b' * 64}",
            "--max-streams=4",
            "--metrics=off",
        ]
    )
    settings = load(None, environ={}, overrides=flag_overrides(args))
    assert settings.auth.jwt_audience == "gw"
    assert settings.auth.api_keys[0].principal == "bob"
    assert settings.per_principal.streams == 4
    assert settings.metrics == "off"


AGENT = {"agents": [{"name": "one", "target": "127.0.0.1:50051"}]}


def test_the_store_is_memory_unless_a_redis_url_is_given(tmp_path: Path) -> None:
    default = load(write_config(tmp_path / "a.yaml", AGENT), environ={})
    assert (default.store, default.store_prefix, default.lease, default.workers) == (
        "memory",
        "a2a:",
        10.0,
        1,
    )
    short = load(
        write_config(tmp_path / "b.yaml", {**AGENT, "store": "redis://r:6379/2"}), environ={}
    )
    assert short.store == "redis://r:6379/2"
    full = {
        **AGENT,
        "store": {"url": "redis://r/0", "prefix": "x:", "lease": 2},
        "listen": {"workers": 4},
    }
    settings = load(write_config(tmp_path / "c.yaml", full), environ={})
    assert (settings.store, settings.store_prefix, settings.lease, settings.workers) == (
        "redis://r/0",
        "x:",
        2.0,
        4,
    )


def test_store_flags_and_environment_override_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path / "a.yaml", {**AGENT, "store": "redis://file/0"})
    from_env = load(path, environ={"A2A_GATEWAY__STORE": "redis://env/0"})
    assert from_env.store == "redis://env/0"
    args = build_parser().parse_args(
        ["serve", "--store", "redis://flag/0", "--store-prefix", "p:", "--lease", "3",
         "--workers", "2"]
    )  # fmt: skip
    settings = load(path, environ={}, overrides=flag_overrides(args))
    assert (settings.store, settings.store_prefix, settings.lease, settings.workers) == (
        "redis://flag/0",
        "p:",
        3.0,
        2,
    )


def test_bad_store_settings_are_refused_by_key(tmp_path: Path) -> None:
    bad = {**AGENT, "store": {"url": "mysql://x", "lease": 0}}
    with pytest.raises(ConfigError) as info:
        load(write_config(tmp_path / "a.yaml", bad), environ={})
    paths = [path for path, _ in info.value.problems]
    assert paths == ["store.url", "store.lease"]
    workers = {**AGENT, "listen": {"workers": 2}}
    with pytest.raises(ConfigError) as info:
        load(write_config(tmp_path / "b.yaml", workers), environ={})
    ((path, text),) = info.value.problems
    assert path == "listen.workers"
    assert "shared store" in text
