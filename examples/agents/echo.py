"""Echo agent: the smallest agent that shows each kind of turn.

- Any text: a direct reply "echo: <text>" (no task is created).
- Exactly "?": INPUT_REQUIRED "What should I echo?". The answer (the next turn,
  with history) gets an artifact "echo" with "echo: <answer>" and COMPLETED with
  the same text as its status message.

    python -m examples.agents.echo [--port N]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from agent_runtime import AgentInfo, AgentSkill, TaskContext, run

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
)


async def echo(ctx: TaskContext) -> None:
    """The handler."""
    answer = f"echo: {ctx.text}"
    if ctx.history:
        await ctx.artifact(answer, name="echo")
        await ctx.complete(answer)
    elif ctx.text == "?":
        await ctx.input_required("What should I echo?")
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
