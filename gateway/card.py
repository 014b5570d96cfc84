"""The A2A Agent Card of one agent, built from its Describe reply."""

from __future__ import annotations

from typing import Any

from generated import task_service_pb2 as pb

PROTOCOL_VERSION = "1.0"
DEFAULT_MODES = ["text/plain"]


def build(
    description: pb.AgentDescription,
    *,
    url: str,
    fallback_name: str,
    security: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The v1.0 AgentCard JSON for an agent whose JSON-RPC endpoint is `url`.

    `security` holds `securitySchemes` and `securityRequirements` (see `security()`)."""
    card: dict[str, Any] = {
        "name": description.name or fallback_name,
        "description": description.description or f"The {fallback_name} agent",
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": PROTOCOL_VERSION}
        ],
        "version": description.version or "0.0.0",
        "capabilities": {"streaming": True, "pushNotifications": False},
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
    if security:
        card.update(security)
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
