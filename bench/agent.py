"""The load agent: our agent_runtime serving the bench workload over gRPC.

python -m bench.agent [--port N]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from agent_runtime import AgentInfo, TaskContext, run
from bench.workload import ARTIFACT_ID, Spec, chunk_text, pace

INFO = AgentInfo(name="load", description="Streams the bench workload.")


async def handler(ctx: TaskContext) -> None:
    spec = Spec.parse(ctx.text)
    if spec.ask:
        await ctx.input_required("What next?")
        return
    await ctx.working()
    if spec.hold > 0:
        await asyncio.sleep(spec.hold)
        await ctx.complete()
        return
    if spec.delay > 0:
        await asyncio.sleep(spec.delay)
    start = time.monotonic()
    for index in range(spec.events):
        wait = pace(start, index, spec.rate)
        if wait:
            await asyncio.sleep(wait)
        await ctx.artifact(
            chunk_text(spec.size),
            artifact_id=ARTIFACT_ID,
            append=index > 0,
            last_chunk=index == spec.events - 1,
        )
    await ctx.complete()


def main() -> None:
    parser = argparse.ArgumentParser(description=INFO.description)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    run(handler, info=INFO, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
