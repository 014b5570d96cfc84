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
    extensions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The v1.0 AgentCard JSON for an agent whose JSON-RPC endpoint is `url`, advertising
    the gateway's protocol `extensions` (AgentExtension objects)."""
    capabilities: dict[str, Any] = {"streaming": True, "pushNotifications": False}
    if extensions:
        capabilities["extensions"] = extensions
    card: dict[str, Any] = {
        "name": description.name or fallback_name,
        "description": description.description or f"The {fallback_name} agent",
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": PROTOCOL_VERSION}
        ],
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
    return card


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
