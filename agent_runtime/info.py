"""`AgentInfo` and `AgentSkill`: what `TaskService.Describe` returns, as plain config."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from generated import task_service_pb2 as pb


@dataclass(frozen=True, kw_only=True)
class AgentSkill:
    """A skill the agent offers (A2A AgentSkill). Empty modes mean the agent's defaults."""

    id: str
    name: str
    description: str
    tags: Sequence[str] = ()
    examples: Sequence[str] = ()
    input_modes: Sequence[str] = ()
    output_modes: Sequence[str] = ()

    def to_proto(self) -> pb.Skill:
        return pb.Skill(
            id=self.id,
            name=self.name,
            description=self.description,
            tags=self.tags,
            examples=self.examples,
            input_modes=self.input_modes,
            output_modes=self.output_modes,
        )


@dataclass(frozen=True, kw_only=True)
class AgentInfo:
    """The agent's self-description; the gateway builds the A2A Agent Card from it."""

    name: str
    description: str
    version: str = "0.1.0"
    skills: Sequence[AgentSkill] = ()
    default_input_modes: Sequence[str] = ("text/plain",)
    default_output_modes: Sequence[str] = ("text/plain",)
    documentation_url: str = ""
    provider_organization: str = ""
    provider_url: str = ""

    def to_proto(self) -> pb.AgentDescription:
        return pb.AgentDescription(
            name=self.name,
            description=self.description,
            version=self.version,
            skills=[skill.to_proto() for skill in self.skills],
            default_input_modes=self.default_input_modes,
            default_output_modes=self.default_output_modes,
            documentation_url=self.documentation_url,
            provider_organization=self.provider_organization,
            provider_url=self.provider_url,
        )
