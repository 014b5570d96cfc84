"""How `a2a-gateway call` shows a stream: progress and status on stderr, artifacts on stdout.

On a terminal, a live rich progress bar follows `metadata.progress` (a spinner while the
agent reports none) with the latest status message beside it; each new status message is
also printed above the bar. Off a terminal (a pipe, a log, a test), the same information is
one plain line per status update (`  25% working  Reading the document`), so logs stay readable.

Artifact text goes to stdout as its chunks arrive, so `call ... > report.txt` captures the
artifacts alone. File parts of artifacts (images, PDFs...) are written under `--out DIR` by a
`FileSaver`, one line on stderr per file written (or, without `--out`, one line saying what
arrived). When stdout and stderr are the same terminal, chunks are printed through
the bar's console, whole lines at a time, so they never tear the live display.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from a2a_client.files import FileSaver, files_in
from a2a_client.model import (
    ArtifactEvent,
    Event,
    MessageEvent,
    StatusEvent,
    TaskEvent,
)

STYLES = {
    "completed": "bold green",
    "failed": "bold red",
    "rejected": "bold red",
    "canceled": "bold yellow",
    "input-required": "bold cyan",
    "auth-required": "bold cyan",
}


class Display:
    """Renders events; use as a context manager around the stream."""

    def __init__(
        self,
        *,
        out: TextIO | None = None,
        err: Console | None = None,
        saver: FileSaver | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.saver = saver
        self.err = err or Console(stderr=True, highlight=False)
        self.live = self.err.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=self.err,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.bar: TaskID | None = None
        self.last_status = ""
        self.pending_line = ""
        self.line_open = False  # stdout (off a terminal) is in the middle of a line
        self.open_artifact: str | None = None
        self.task_id: str | None = None
        self.final_state: str | None = None
        self.final_text = ""

    def __enter__(self) -> Display:
        if self.live:
            self.progress.start()
            self.bar = self.progress.add_task("submitted", total=None)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._end_artifact()
        if self.live:
            self.progress.stop()
            self.live = False

    def note(self, text: str) -> None:
        """A line of our own (not the agent's) on stderr."""
        self.err.print(text)

    def show(self, event: Event) -> None:
        if isinstance(event, TaskEvent):
            self.task_id = event.task.id
            self.note(f"[dim]task {event.task.id} {event.task.state}[/]")
            if event.task.final:
                self._final(event.task.state, event.task.status_text)
        elif isinstance(event, StatusEvent):
            self._status(event)
        elif isinstance(event, ArtifactEvent):
            self._artifact(event)
        elif isinstance(event, MessageEvent):
            self._write(event.message.text + "\n")
            self._end_artifact()
            self.final_state, self.final_text = "completed", event.message.text

    def _status(self, event: StatusEvent) -> None:
        text = event.message_text
        if self.bar is not None:
            label = escape(text or event.state)
            if event.progress is not None:
                self.progress.update(self.bar, total=100, completed=event.progress)
            self.progress.update(self.bar, description=label)
            self.progress.refresh()
        if event.final:
            self._final(event.state, text)
            return
        if (text and text != self.last_status) or not self.live:
            self.last_status = text
            self._end_artifact()
            percent = "    " if event.progress is None else f"{event.progress:3d}%"
            self.note(f"{percent} [dim]{event.state}[/]  {escape(text)}")

    def _artifact(self, event: ArtifactEvent) -> None:
        if not event.append or self.open_artifact != event.artifact_id:
            self._end_artifact()
            self.note(f"[bold]── {escape(event.name or event.artifact_id)} ──[/]")
            self.open_artifact = event.artifact_id
        self._write(event.text)
        self._files(event)
        if event.last_chunk:
            self._end_artifact()

    def _files(self, event: ArtifactEvent) -> None:
        if self.saver is not None:
            for line in save_files(self.saver, event):
                self.err.print(line, soft_wrap=True)  # a path stays whole on one line
            return
        for file in files_in(event.parts):
            size = "a URL" if file.data is None else f"{len(file.data):,} bytes"
            self.note(
                f"[dim]{escape(file.filename or file.media_type)}: {file.media_type}, "
                f"{size} (--out DIR saves it)[/]"
            )

    def _write(self, text: str) -> None:
        if not self.live:
            if text:
                self.out.write(text)
                self.out.flush()
                self.line_open = not text.endswith("\n")
            return
        lines = (self.pending_line + text).split("\n")
        self.pending_line = lines.pop()
        for line in lines:
            self.progress.console.print(line, markup=False, highlight=False)

    def _end_artifact(self) -> None:
        if self.pending_line:
            if self.live:
                self.progress.console.print(self.pending_line, markup=False, highlight=False)
            self.pending_line = ""
        elif self.line_open:
            self.out.write("\n")
            self.out.flush()
            self.line_open = False
        self.open_artifact = None

    def _final(self, state: str, text: str) -> None:
        self.final_state, self.final_text = state, text
        if self.bar is not None and state == "completed":
            self.progress.update(self.bar, total=100, completed=100)
        self.stop()
        style = STYLES.get(state, "bold")
        detail = f": {escape(text)}" if text else ""
        self.note(f"[{style}]{state}[/]{detail}")


def save_files(saver: FileSaver, event: ArtifactEvent) -> list[str]:
    """Write the event's raw file parts; one line (markup) per file written."""
    written = saver.save(event.artifact_id, event.name, event.parts, append=event.append)
    lines = []
    for path, file in written:
        assert file.data is not None
        lines.append(f"saved {escape(str(path))} ({file.media_type}, {len(file.data):,} bytes)")
    return lines
