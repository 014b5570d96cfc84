"""The Python API for agents served to the A2A gateway over gRPC.

from agent_runtime import AgentInfo, TaskContext, run

async def handler(ctx: TaskContext) -> None:
    await ctx.progress(50, "Thinking")
    await ctx.artifact(ctx.text.upper(), name="shout")
    await ctx.complete()

run(handler, info=AgentInfo(name="shout", description="Shouts back."), port=50051)
"""

from agent_runtime.artifact_stream import ArtifactStream
from agent_runtime.content import Content
from agent_runtime.context import FINAL_STATES, Caller, TaskContext
from agent_runtime.files import File, file_part, files_of, safe_name
from agent_runtime.info import AgentExtension, AgentInfo, AgentSkill
from agent_runtime.server import AgentServer, run, serve
from agent_runtime.service import SERVICE_NAME, Handler, TaskService

__all__ = [
    "FINAL_STATES",
    "SERVICE_NAME",
    "AgentExtension",
    "AgentInfo",
    "AgentServer",
    "AgentSkill",
    "ArtifactStream",
    "Caller",
    "Content",
    "File",
    "Handler",
    "TaskContext",
    "TaskService",
    "file_part",
    "files_of",
    "run",
    "safe_name",
    "serve",
]
