"""`AgentInfo` and `AgentSkill`: what `TaskService.Describe` returns, as plain config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2

from generated import task_service_pb2 as pb


@dataclass(frozen=True, kw_only=True)
class AgentExtension:
    """An A2A extension the agent supports (A2A v1.0 AgentExtension).

    `required=True` makes the gateway refuse (-32008) every message that does not list `uri`
    in its `A2A-Extensions`; the agent then only ever sees callers that use it."""

    uri: str
    description: str = ""
    required: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_proto(self) -> pb.Extension:
        extension = pb.Extension(uri=self.uri, description=self.description, required=self.required)
        if self.params:
            params = struct_pb2.Struct()
            json_format.ParseDict(dict(self.params), params)
            extension.params.CopyFrom(params)
        return extension


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
    extensions: Sequence[AgentExtension] = ()

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
            extensions=[extension.to_proto() for extension in self.extensions],
        )
