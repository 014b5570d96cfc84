"""The configuration: a YAML file, the environment and CLI flags, validated into `Settings`.

Precedence, highest first: CLI flags, environment variables, the file, defaults.

Environment: `A2A_GATEWAY__` then the key path joined with `__` (keys case-insensitive); a
number indexes a list (`A2A_GATEWAY__LISTEN__PORT=9000`, `A2A_GATEWAY__AGENTS__0__DEADLINE=30`).
A value starting with `[` or `{` is read as YAML/JSON (`A2A_GATEWAY__FORWARD_HEADERS=[x-tenant]`);
`targets` also takes a comma-separated string.

Every problem is reported at once as `key.path[i].name: what is wrong` in a `ConfigError`,
before anything listens. Relative file paths are relative to the config file's directory.

Adding a section is one class: a `Section` subclass (sections.py), a field on `GatewayConfig`,
and its fields passed on in `GatewayConfig.to_settings()` (sections in `FLAT_SECTIONS` are
passed on as they are, so a field named like its `Settings` field needs no further code).

The CLI's flags reach `load` as `overrides` (overrides.py).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, get_args

import yaml
from pydantic import BaseModel, Field, ValidationError

from gateway.ops.sections import (
    AgentConfig,
    AuthConfig,
    CardSigningConfig,
    Header,
    HttpConfig,
    LimitsConfig,
    ListenConfig,
    MetricsConfig,
    PrincipalLimitsConfig,
    PushConfig,
    Section,
    StoreConfig,
    TracingConfig,
)
from gateway.ops.settings import (
    EXTENDED_CARD_NEEDS_AUTH,
    WORKERS_NEED_A_STORE,
    PrincipalLimits,
    Settings,
)

ENV_PREFIX = "A2A_GATEWAY__"
Problem = tuple[str, str]


class ConfigError(Exception):
    """The configuration is invalid; `problems` are (key path, what is wrong)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(f"{path}: {text}" if path else text for path, text in problems))
        self.problems = problems


class GatewayConfig(Section):
    agents: list[AgentConfig] = Field(min_length=1)
    default_agent: str | None = None
    forward_headers: list[Header] = Field(default_factory=list)
    listen: ListenConfig = ListenConfig()
    limits: LimitsConfig = LimitsConfig()
    http: HttpConfig = HttpConfig()
    auth: AuthConfig = AuthConfig()
    per_principal: PrincipalLimitsConfig = PrincipalLimitsConfig()
    metrics: MetricsConfig = MetricsConfig()
    cors_origins: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=list)
    shutdown_grace: Annotated[float, Field(ge=0)] = 10.0
    store: StoreConfig = StoreConfig()
    card_signing: CardSigningConfig | None = None
    tracing: TracingConfig = TracingConfig()
    push: PushConfig = PushConfig()
    rest: bool = True

    FLAT_SECTIONS: ClassVar[tuple[str, ...]] = ("limits", "http")

    def problems(self) -> list[Problem]:
        """What a field validator cannot see: relations between agents."""
        found: list[Problem] = []
        seen: dict[str, int] = {}
        for index, agent in enumerate(self.agents):
            if agent.name in seen:
                found.append(
                    (
                        f"agents[{index}].name",
                        f"duplicate agent name {agent.name!r} (also agents[{seen[agent.name]}])",
                    )
                )
            seen.setdefault(agent.name, index)
        if self.default_agent is not None and self.default_agent not in seen:
            found.append(
                ("default_agent", f"{self.default_agent!r} is not one of {', '.join(seen)}")
            )
        if self.listen.workers > 1 and self.store.url == "memory":
            found.append(("listen.workers", WORKERS_NEED_A_STORE))
        auth = self.auth.to_settings().enabled
        for index, agent in enumerate(self.agents):
            if agent.extended_card and not auth:
                found.append((f"agents[{index}].extended_card", EXTENDED_CARD_NEEDS_AUTH))
        if self.listen.workers > 1 and self.listen.grpc_port == 0:
            found.append(
                (
                    "listen.grpc_port",
                    "with several workers, give a fixed port (every worker binds it)",
                )
            )
        return found

    def to_settings(self) -> Settings:
        flat: dict[str, Any] = {}
        for section in self.FLAT_SECTIONS:
            value = getattr(self, section)
            flat.update(value.flat() if isinstance(value, HttpConfig) else value.model_dump())
        return Settings(
            agents=tuple(a.to_spec() for a in self.agents),
            default_agent=self.default_agent,
            forward_headers=tuple(dict.fromkeys(self.forward_headers)),
            host=self.listen.host,
            port=self.listen.port,
            grpc_port=self.listen.grpc_port,
            grpc_cert_file=self.listen.grpc_cert_file,
            grpc_key_file=self.listen.grpc_key_file,
            auth=self.auth.to_settings(),
            per_principal=PrincipalLimits(**self.per_principal.model_dump()),
            metrics=self.metrics.mode,
            metrics_port=self.metrics.port,
            cors_origins=tuple(self.cors_origins),
            allowed_hosts=tuple(self.allowed_hosts),
            shutdown_grace=self.shutdown_grace,
            rest=self.rest,
            workers=self.listen.workers,
            store=self.store.url,
            store_prefix=self.store.prefix,
            lease=self.store.lease,
            card_signing_key_file=self.card_signing.key_file if self.card_signing else None,
            card_signing_kid=self.card_signing.kid if self.card_signing else "",
            store_cluster=self.store.cluster,
            tracing=self.tracing.to_settings(),
            push=self.push.to_settings(),
            **flat,
        )


def load(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Callable[[dict[str, Any]], None] | None = None,
) -> Settings:
    """Read `path` (optional), apply the environment then `overrides`, validate.

    `overrides` edits the raw data in place (the CLI's flags). Raises ConfigError.
    """
    data = read_file(Path(path)) if path is not None else {}
    apply_environ(data, os.environ if environ is None else environ)
    if overrides is not None:
        overrides(data)
    base_dir = Path(path).resolve().parent if path is not None else Path.cwd()
    try:
        config = GatewayConfig.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as exc:
        raise ConfigError([_problem(e) for e in exc.errors()]) from None
    problems = config.problems()
    if problems:
        raise ConfigError(problems)
    return config.to_settings()


def read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([(str(path), f"cannot read the file: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([(str(path), f"not valid YAML: {where}{problem}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([(str(path), "the file must be a mapping (agents:, listen:, ...)")])
    return data


def apply_environ(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Set each `A2A_GATEWAY__...` variable's value at its key path in `data`."""
    problems: list[Problem] = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        value: Any = environ[name]
        if value.lstrip().startswith(("[", "{")):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                problems.append((name, "not valid YAML/JSON"))
                continue
        try:
            _set(data, keys, value)
        except (KeyError, IndexError, TypeError) as exc:
            problems.append((name, str(exc.args[0]) if exc.args else "cannot be applied"))
    if problems:
        raise ConfigError(problems)


_ALTERNATIVES = {"target": "targets", "targets": "target"}


def _set(data: Any, keys: list[str], value: Any) -> None:
    if not all(keys):
        raise KeyError("an empty key in the variable name")
    node = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        fresh: Any = value if last else ([] if keys[depth + 1].isdigit() else {})
        if isinstance(node, list) and key.isdigit():
            index = int(key)
            if index > len(node):
                raise IndexError(f"index {index}, but the list has {len(node)} items")
            if index == len(node):
                node.append(fresh)
            elif last:
                node[index] = fresh
            node = node[index]
        elif isinstance(node, dict):
            if last or not isinstance(node.get(key), dict | list):
                node[key] = fresh
            if last and key in _ALTERNATIVES:
                node.pop(_ALTERNATIVES[key], None)  # `target` replaces `targets`, and back
            node = node[key]
        else:
            raise TypeError(f"{'.'.join(keys[:depth])} is not a mapping or a list")


def _problem(error: Any) -> Problem:
    loc = tuple(error["loc"])
    path = _path(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        return path, "unknown key" + _suggestion(loc)
    if kind == "missing":
        return path, "required"
    if loc == ("agents",) and kind == "too_short":
        return path, "at least one agent is required (agents: in --config FILE, or --agent)"
    text = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if kind != "value_error" and isinstance(value, str | int | float | bool):
        text += f" (got {value!r})"
    return path, text


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _suggestion(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] | None = GatewayConfig
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field else None
    if model is None:
        return ""
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
