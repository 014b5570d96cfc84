"""Echo agent: the smallest agent that shows each kind of turn.

- Any text: a direct reply "echo: <text>" (no task is created).
- Exactly "?": INPUT_REQUIRED "What should I echo?". The answer (the next turn,
  with history) gets an artifact "echo" with "echo: <answer>" and COMPLETED with
  the same text as its status message.
- The echo-stats extension (STATS_URI, optional): a request that lists it in its
  `A2A-Extensions` header gets it activated (the answer's `A2A-Extensions` header
  names it) and the reply's part carries `metadata[STATS_URI] = {words, characters}`.

    python -m examples.agents.echo [--port N]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from google.protobuf import struct_pb2

from agent_runtime import AgentExtension, AgentInfo, AgentSkill, TaskContext, run
from generated import task_service_pb2 as pb

STATS_URI = "https://github.com/a2a-grpc-gateway/extensions/echo-stats/v1"

INFO = AgentInfo(
    name="echo",
    description="Echoes your text back; send '?' to be asked what to echo.",
    version="1.0.0",
    skills=[
        AgentSkill(
            id="echo",
            name="Echo",
            description="Replies with the text it receives.",
            tags=["echo", "test"],
            examples=["hello", "?"],
        )
    ],
    default_input_modes=["text/plain"],
    default_output_modes=["text/plain"],
    extensions=[
        AgentExtension(
            uri=STATS_URI,
            description="Adds {words, characters} of the echoed text to the reply's part "
            "metadata, under this URI.",
            params={"metadataKey": STATS_URI},
        )
    ],
)


def stats_part(answer: str, text: str) -> pb.Part:
    """A text part carrying the echo-stats extension's metadata."""
    metadata = struct_pb2.Struct()
    metadata.update({STATS_URI: {"words": len(text.split()), "characters": len(text)}})
    return pb.Part(text=answer, media_type="text/plain", metadata=metadata)


async def echo(ctx: TaskContext) -> None:
    """The handler."""
    answer = f"echo: {ctx.text}"
    stats = STATS_URI in ctx.requested_extensions
    if stats:
        ctx.activate(STATS_URI)
    if ctx.history:
        await ctx.artifact(answer, name="echo")
        await ctx.complete(answer)
    elif ctx.text == "?":
        await ctx.input_required("What should I echo?")
    elif stats:
        await ctx.reply([stats_part(answer, ctx.text)])
    else:
        await ctx.reply(answer)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=INFO.description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    run(echo, info=INFO, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
