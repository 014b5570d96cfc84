"""The A2A Agent Card of one agent, built from its Describe reply and configured overrides.

One card speaks to both versions: v1.0 clients read `supportedInterfaces` (every enabled
binding's `Interface`, in the order a client should prefer: see pages.interfaces); v0.3
clients read the top-level `url`, `protocolVersion`, `preferredTransport` and
`additionalInterfaces`, built from the interfaces of protocol version 0.3 only (our REST and
gRPC bindings speak v1.0 shapes, which a v0.3 client of those transports would not parse).

Overrides (`AgentSpec.card_overrides`) replace whole top-level fields; only `OVERRIDABLE`
fields can be overridden, so the endpoints and capabilities always tell the truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from generated import task_service_pb2 as pb

PROTOCOL_VERSIONS = ("1.0", "0.3")
V03_PROTOCOL_VERSION = "0.3.0"  # the v0.3 schema's value for the top-level field
DEFAULT_MODES = ["text/plain"]
OVERRIDABLE = frozenset(
    {
        "name",
        "description",
        "version",
        "provider",
        "documentationUrl",
        "iconUrl",
        "skills",
        "defaultInputModes",
        "defaultOutputModes",
    }
)
_STRINGS = frozenset({"name", "description", "version", "documentationUrl", "iconUrl"})


@dataclass(frozen=True, slots=True)
class Interface:
    """One `AgentInterface`: a binding (`JSONRPC`, `HTTP+JSON`, `GRPC`) at `url`."""

    binding: str
    url: str
    version: str = "1.0"
    tenant: str = ""  # gRPC: the agent, which every request names (bindings/grpc/)

    def to_json(self) -> dict[str, str]:
        out = {"url": self.url, "protocolBinding": self.binding, "protocolVersion": self.version}
        if self.tenant:
            out["tenant"] = self.tenant
        return out


def default_interfaces(url: str) -> list[Interface]:
    """JSON-RPC alone, v1.0 then v0.3, at `url`."""
    return [Interface("JSONRPC", url, version) for version in PROTOCOL_VERSIONS]


def check_overrides(overrides: Mapping[str, Any]) -> None:
    """Raise ValueError for a field that cannot be overridden or a value of the wrong type."""
    for name, value in overrides.items():
        if name not in OVERRIDABLE:
            allowed = ", ".join(sorted(OVERRIDABLE))
            raise ValueError(f"card field {name!r} cannot be overridden (allowed: {allowed})")
        if name in _STRINGS and not isinstance(value, str):
            raise ValueError(f"card field {name!r} must be a string")
        if name == "provider" and not (
            isinstance(value, dict)
            and isinstance(value.get("organization"), str)
            and isinstance(value.get("url"), str)
        ):
            raise ValueError("card field 'provider' must be {organization, url}")
        if name == "skills" and not (
            isinstance(value, list)
            and all(
                isinstance(s, dict) and {"id", "name", "description", "tags"} <= s.keys()
                for s in value
            )
        ):
            raise ValueError("card field 'skills' must be a list of {id, name, description, tags}")
        if name.endswith("Modes") and not (
            isinstance(value, list) and all(isinstance(m, str) for m in value)
        ):
            raise ValueError(f"card field {name!r} must be a list of media types")


EXTENDABLE = frozenset({"description", "skills"})


def check_extended(fields: Mapping[str, Any]) -> None:
    """Raise ValueError for an extended-card field other than `description` (replaces the
    public one) and `skills` (added after the public ones)."""
    for name in fields:
        if name not in EXTENDABLE:
            allowed = ", ".join(sorted(EXTENDABLE))
            raise ValueError(f"extended card field {name!r} is not supported (allowed: {allowed})")
    check_overrides(fields)


def extend(card: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The authenticated extended card (A2A v1.0 3.1.11): `card` with the configured
    `description` and the extra `skills` after its own."""
    extended = {**card}
    if "description" in fields:
        extended["description"] = fields["description"]
    if "skills" in fields:
        extended["skills"] = [*card.get("skills", ()), *fields["skills"]]
    return extended


def input_modes(description: pb.AgentDescription, overrides: Mapping[str, Any]) -> list[str]:
    """Every media type the agent's card accepts: default input modes and skills' modes."""
    card = _content(description, "", overrides)
    modes = list(card["defaultInputModes"])
    for skill in card["skills"]:
        modes.extend(skill.get("inputModes", ()))
    return modes


def build(
    description: pb.AgentDescription,
    *,
    url: str,
    fallback_name: str,
    overrides: Mapping[str, Any] | None = None,
    extensions: list[dict[str, Any]] | None = None,
    security: dict[str, Any] | None = None,
    push: bool = False,
    interfaces: Sequence[Interface] | None = None,
    extended_card: bool = False,
) -> dict[str, Any]:
    """The AgentCard JSON (v1.0 and v0.3) for an agent whose JSON-RPC endpoint is `url`,
    advertising the gateway's protocol `extensions` (AgentExtension objects).

    `interfaces` (default: JSON-RPC v1.0 and v0.3 at `url`) become `supportedInterfaces` in
    their order. `security` holds `securitySchemes` and `securityRequirements` (see
    `security()`); `extended_card` says an authenticated extended card is served (see
    `extend`); `push`: the gateway delivers push notifications
    (capabilities.pushNotifications)."""
    card = _content(description, fallback_name, overrides or {})
    card["capabilities"]["pushNotifications"] = push
    if extensions:
        card["capabilities"]["extensions"] = extensions
    if extended_card:  # v1.0 capabilities.extendedAgentCard, v0.3's top-level flag
        card["capabilities"]["extendedAgentCard"] = True
        card["supportsAuthenticatedExtendedCard"] = True
    if security:
        card.update(security)
    chosen = list(interfaces) if interfaces is not None else default_interfaces(url)
    card["supportedInterfaces"] = [i.to_json() for i in chosen]
    legacy = [i for i in chosen if i.version == "0.3"] or [Interface("JSONRPC", url, "0.3")]
    card["url"] = legacy[0].url
    card["protocolVersion"] = V03_PROTOCOL_VERSION
    card["preferredTransport"] = legacy[0].binding
    card["additionalInterfaces"] = [{"url": i.url, "transport": i.binding} for i in legacy]
    return card


def grpc_interface(host: str, port: int, agent: str) -> Interface:
    """The gRPC binding's AgentInterface: `host:port` (section 10), the agent as `tenant`."""
    shown = f"[{host}]" if ":" in host else host
    return Interface("GRPC", f"{shown}:{port}", tenant=agent)


def _content(
    description: pb.AgentDescription, fallback_name: str, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    capabilities: dict[str, Any] = {"streaming": True, "pushNotifications": False}
    card: dict[str, Any] = {
        "name": description.name or fallback_name,
        "description": description.description or f"The {fallback_name} agent",
        "version": description.version or "0.0.0",
        "capabilities": capabilities,
        "defaultInputModes": list(description.default_input_modes) or DEFAULT_MODES,
        "defaultOutputModes": list(description.default_output_modes) or DEFAULT_MODES,
        "skills": [_skill(s) for s in description.skills],
    }
    if description.provider_organization:
        card["provider"] = {
            "organization": description.provider_organization,
            "url": description.provider_url,
        }
    if description.documentation_url:
        card["documentationUrl"] = description.documentation_url
    card.update(overrides)
    return card


def security(*, jwt: bool, api_key_header: str | None) -> dict[str, Any]:
    """The card's v1.0 `securitySchemes` and `securityRequirements` (either scheme will do)."""
    schemes: dict[str, Any] = {}
    if jwt:
        schemes["bearer"] = {"httpAuthSecurityScheme": {"scheme": "Bearer", "bearerFormat": "JWT"}}
    if api_key_header:
        schemes["apiKey"] = {"apiKeySecurityScheme": {"location": "header", "name": api_key_header}}
    if not schemes:
        return {}
    requirements: list[dict[str, Any]] = [{"schemes": {name: {"list": []}}} for name in schemes]
    return {"securitySchemes": schemes, "securityRequirements": requirements}


def _skill(skill: pb.Skill) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": skill.id,
        "name": skill.name or skill.id,
        "description": skill.description or skill.name or skill.id,
        "tags": list(skill.tags),
    }
    if skill.examples:
        out["examples"] = list(skill.examples)
    if skill.input_modes:
        out["inputModes"] = list(skill.input_modes)
    if skill.output_modes:
        out["outputModes"] = list(skill.output_modes)
    return out
