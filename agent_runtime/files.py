"""File parts for agents: read the files a message carries, build file parts to send back.

`files_of(message)` returns one `File` per raw or url part, in order. A `File` is only data:
its `name` is the client's `filename`, reduced by `safe_name` to a bare file name, so no
agent ever uses what a client sent as a path (`../../etc/passwd` reads `passwd`,
`C:\\x\\y.pdf` reads `y.pdf`). Media types are lower-cased without parameters
(`Application/PDF; x=1` reads `application/pdf`).

URL parts are described, never fetched here: fetching a client's URL from inside a network
is a server-side request forgery risk, so an agent that wants to fetch must apply its own
rules (the demo agents refuse URL parts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generated import task_service_pb2 as pb

_UNSAFE = re.compile(r"[\x00-\x1f\x7f]+")
MAX_NAME = 120


def safe_name(name: str, default: str = "file") -> str:
    """A bare file name for display or for naming a file: no directories, no control
    characters, no leading dots, at most `MAX_NAME` characters; `default` when nothing is left.
    """
    base = re.split(r"[/\\]", name)[-1]
    base = _UNSAFE.sub("", base).strip().lstrip(".").strip()
    if len(base) > MAX_NAME:
        stem, dot, ext = base.rpartition(".")
        base = (
            stem[: MAX_NAME - len(ext) - 1] + dot + ext
            if dot and len(ext) < 10
            else base[:MAX_NAME]
        )
    return base or default


def media_type_of(value: str) -> str:
    """`Image/PNG; q=1` -> `image/png` ("" stays "")."""
    return value.partition(";")[0].strip().lower()


@dataclass(frozen=True, kw_only=True)
class File:
    """One file of a message: inline bytes (`data`) or a reference (`url`), never both."""

    name: str
    media_type: str
    data: bytes | None = None
    url: str | None = None

    def __repr__(self) -> str:
        size = "url" if self.data is None else f"{len(self.data)} bytes"
        return f"<File name={self.name!r} media_type={self.media_type!r} {size}>"

    @property
    def size(self) -> int:
        return 0 if self.data is None else len(self.data)


def files_of(message: pb.Message) -> list[File]:
    """The raw and url parts of `message`, as `File`s, in order."""
    files = []
    for index, part in enumerate(message.parts):
        kind = part.WhichOneof("content")
        if kind not in ("raw", "url"):
            continue
        files.append(
            File(
                name=safe_name(part.filename, default=f"file-{index + 1}"),
                media_type=media_type_of(part.media_type),
                data=part.raw if kind == "raw" else None,
                url=part.url if kind == "url" else None,
            )
        )
    return files


def file_part(data: bytes, *, media_type: str, filename: str = "") -> pb.Part:
    """A raw part with its media type (and a file name, reduced by `safe_name`)."""
    part = pb.Part(raw=data, media_type=media_type)
    if filename:
        part.filename = safe_name(filename)
    return part
