"""Document analysis agent: the gateway's original use case.

Send it a document as text. It reports WORKING with progress 25, 50, 75 and 100
(one step every `--delay` seconds), streams a short plain-text report as the
artifact "analysis" in several chunks, then COMPLETED. An empty document FAILS.
Cancelling the task stops it at the next step.

    python -m examples.agents.document_analysis [--port N] [--delay SECONDS]

`--delay` defaults to $DOC_ANALYSIS_DELAY, else 0.5 seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from agent_runtime import AgentInfo, AgentSkill, TaskContext, run

INFO = AgentInfo(
    name="document-analysis",
    description="Analyses a text document: counts, key topics and a short summary.",
    version="1.0.0",
    skills=[
        AgentSkill(
            id="analyse-document",
            name="Analyse a document",
            description="Reports word and line counts, the most frequent words and the "
            "first sentence of a plain-text document.",
            tags=["documents", "analysis", "summary"],
            examples=[
                "Analyse this: The quick brown fox jumps over the lazy dog.",
                "<paste the text of a report>",
            ],
        )
    ],
    default_input_modes=["text/plain"],
    default_output_modes=["text/plain"],
)

EMPTY_DOCUMENT = "The document is empty: send the text to analyse."

# Short, frequent words that say nothing about a document's topics (words of one or
# two letters are skipped anyway).
_STOP_WORDS_TEXT = """
    all and any are but can for from had has have her his into its not our she than that
    the their them then there these they this those was were which who will with you your
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


@dataclass(frozen=True, kw_only=True)
class Analysis:
    """What the report says about a document."""

    words: int
    lines: int
    characters: int
    top_words: list[tuple[str, int]]
    first_sentence: str


def analyse_text(text: str, *, top: int = 5) -> Analysis:
    """Analyse `text` (pure function)."""
    words = re.findall(r"[\w'-]+", text.lower())
    topics = Counter(w for w in words if w not in STOP_WORDS and len(w) > 2)
    first = re.split(r"(?<=[.!?])\s", " ".join(text.split()), maxsplit=1)[0]
    return Analysis(
        words=len(words),
        lines=len(text.strip().splitlines()),
        characters=len(text),
        top_words=topics.most_common(top),
        first_sentence=first,
    )


def report_lines(analysis: Analysis) -> list[str]:
    """The report, one line per item, each ending with a newline."""
    top = ", ".join(f"{word} ({count})" for word, count in analysis.top_words) or "none"
    return [
        "Document analysis\n",
        f"Words: {analysis.words}\n",
        f"Lines: {analysis.lines}\n",
        f"Characters: {analysis.characters}\n",
        f"Top words: {top}\n",
        f"First sentence: {analysis.first_sentence}\n",
    ]


async def analyse(ctx: TaskContext, *, delay: float = 0.5) -> None:
    """The handler: progress in four steps, the report as a streamed artifact, COMPLETED."""
    text = ctx.text
    if not text.strip():
        await ctx.fail(EMPTY_DOCUMENT)
        return
    await ctx.progress(25, "Reading the document")
    await asyncio.sleep(delay)
    await ctx.progress(50, "Finding key topics")
    analysis = analyse_text(text)
    await asyncio.sleep(delay)
    await ctx.progress(75, "Summarising")
    lines = report_lines(analysis)
    await asyncio.sleep(delay)
    await ctx.progress(100, "Writing the report")
    async with ctx.artifact_stream(name="analysis") as stream:
        for line in lines:
            await stream.write(line)
    await ctx.complete("Analysis ready.")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=INFO.description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--delay",
        type=float,
        default=os.environ.get("DOC_ANALYSIS_DELAY", "0.5"),  # argparse applies `type`
        help="seconds between progress steps (default: $DOC_ANALYSIS_DELAY or 0.5)",
    )
    args = parser.parse_args(argv)
    if args.delay < 0:
        parser.error("--delay must not be negative")
    run(functools.partial(analyse, delay=args.delay), info=INFO, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
