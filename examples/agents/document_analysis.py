"""Document analysis agent: the gateway's original use case.

Send it a document as text. It reports WORKING with progress 25, 50, 75 and 100
(one step every `--delay` seconds), streams a short plain-text report as the
artifact "analysis" in several chunks, then COMPLETED. An empty document FAILS.
Cancelling the task stops it at the next step.

Or attach files (raw parts): `application/pdf` (read page by page with pypdf) or
`text/plain` (UTF-8, one page). It reports "Reading page 7 of 40" with progress for every
page (one every `--page-delay` seconds at least), appends one line to the "analysis"
artifact per batch of `BATCH_PAGES` pages as they are read, then the report on all of them.
A damaged, encrypted or empty PDF, a file over `--max-file-bytes` (default 12 MiB, what
the gateway's default 16 MiB body limit carries in base64) and a URL part (never fetched:
see `documents.py`) FAIL with a message that says why. Text parts are ignored when there
are files.

    python -m examples.agents.document_analysis [--port N] [--delay SECONDS]
        [--page-delay SECONDS] [--max-file-bytes N]

`--delay` defaults to $DOC_ANALYSIS_DELAY, else 0.5 seconds; `--page-delay` to
$DOC_ANALYSIS_PAGE_DELAY, else 0.1 seconds.
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
from examples.agents.documents import (
    ACCEPTED,
    MAX_FILE_BYTES,
    Document,
    DocumentError,
    open_document,
)

INFO = AgentInfo(
    name="document-analysis",
    description="Analyses a document (pasted text, or an attached PDF or text file): "
    "counts, key topics and a short summary, with progress page by page.",
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
                "<attach a PDF>",
            ],
            input_modes=list(ACCEPTED),
        )
    ],
    default_input_modes=list(ACCEPTED),
    default_output_modes=["text/plain"],
)

EMPTY_DOCUMENT = "The document is empty: send the text to analyse."
BATCH_PAGES = 5  # pages per partial result

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


async def analyse(
    ctx: TaskContext,
    *,
    delay: float = 0.5,
    page_delay: float = 0.1,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> None:
    """The handler: files page by page (`analyse_files`), else the text in four steps; the
    report as a streamed artifact, then COMPLETED."""
    if ctx.files:
        await analyse_files(ctx, page_delay=page_delay, max_file_bytes=max_file_bytes)
        return
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


async def analyse_files(
    ctx: TaskContext, *, page_delay: float = 0.1, max_file_bytes: int = MAX_FILE_BYTES
) -> None:
    """Every attached file, page by page: a progress update per page, a line of the
    "analysis" artifact per `BATCH_PAGES` pages, then the report; FAILED on the first file
    that cannot be read. Parsing and counting run in a thread, so a large PDF never holds up
    the agent's event loop (cancellation, other tasks)."""

    def open_all() -> list[Document]:
        return [open_document(file, max_bytes=max_file_bytes) for file in ctx.files]

    try:
        documents = await asyncio.to_thread(open_all)
    except DocumentError as exc:
        await ctx.fail(str(exc))
        return
    total = sum(document.pages for document in documents)
    names = ", ".join(document.name for document in documents)
    await ctx.progress(0, f"Opened {names}: {total} page{'s' if total != 1 else ''}")
    artifact_id = await ctx.artifact(
        f"Document analysis of {names} ({total} page{'s' if total != 1 else ''})\n",
        name="analysis",
        last_chunk=False,
    )
    texts: list[str] = []
    done = 0
    for document in documents:
        batch: list[str] = []
        for index in range(document.pages):
            where = f"page {index + 1} of {document.pages}"
            label = (
                f"{document.name}: reading {where}" if len(documents) > 1 else f"Reading {where}"
            )
            await ctx.progress(done * 100 // total, label)
            try:
                text = await asyncio.to_thread(document.page, index)
            except DocumentError as exc:
                await ctx.fail(str(exc))
                return
            texts.append(text)
            batch.append(text)
            done += 1
            if len(batch) == BATCH_PAGES or index + 1 == document.pages:
                first = index + 2 - len(batch)
                joined = "\n".join(batch)
                line = await asyncio.to_thread(batch_line, document.name, first, index + 1, joined)
                await ctx.artifact(
                    line, name="analysis", artifact_id=artifact_id, append=True, last_chunk=False
                )
                batch = []
            await asyncio.sleep(page_delay)
    everything = "\n".join(texts)
    if not everything.strip():
        await ctx.fail(f"{names}: no text found (a scanned document without a text layer?)")
        return
    await ctx.progress(100, "Writing the report")
    analysis = await asyncio.to_thread(analyse_text, everything)
    lines = report_lines(analysis)[1:]  # the heading was the first chunk
    await ctx.artifact(
        "".join(lines), name="analysis", artifact_id=artifact_id, append=True, last_chunk=True
    )
    await ctx.complete("Analysis ready.")


def batch_line(name: str, first: int, last: int, text: str) -> str:
    """One partial result: `report.pdf pages 1-5: 812 words; top words: a (3), b (2)`."""
    analysis = analyse_text(text, top=3)
    pages = f"page {first}" if first == last else f"pages {first}-{last}"
    top = ", ".join(f"{word} ({count})" for word, count in analysis.top_words) or "none"
    return f"{name} {pages}: {analysis.words} words; top words: {top}\n"


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
    parser.add_argument(
        "--page-delay",
        type=float,
        default=os.environ.get("DOC_ANALYSIS_PAGE_DELAY", "0.1"),
        help="least seconds per PDF page (default: $DOC_ANALYSIS_PAGE_DELAY or 0.1)",
    )
    parser.add_argument(
        "--max-file-bytes",
        type=int,
        default=MAX_FILE_BYTES,
        help=f"largest file accepted (default {MAX_FILE_BYTES}, 12 MiB)",
    )
    args = parser.parse_args(argv)
    if args.delay < 0 or args.page_delay < 0:
        parser.error("--delay and --page-delay must not be negative")
    if args.max_file_bytes < 1:
        parser.error("--max-file-bytes must be positive")
    handler = functools.partial(
        analyse, delay=args.delay, page_delay=args.page_delay, max_file_bytes=args.max_file_bytes
    )
    run(handler, info=INFO, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
