"""File parts: send files to an agent, save the files an agent sends back.

    from a2a_client import A2AClient, file_part_from_path

    async with A2AClient(url) as client:
        async for event in client.stream("Analyse this", files=[file_part_from_path("a.pdf")]):
            ...

`file_part` / `file_part_from_path` build A2A v1.0 file parts (`raw` base64 bytes with
`mediaType` and `filename`); `files_in(parts)` reads the file parts of an artifact or message
back as `FileData`. `FileSaver` writes the file parts of artifact events into one directory:
names come from the part's `filename` (else the artifact's name plus an extension for the
media type), reduced to a bare name, so nothing an agent sends is used as a path. A new
version of an artifact (`append: false`) overwrites its file; appended chunks are added to it.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OCTET_STREAM = "application/octet-stream"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]+")
_EXTENSIONS = {"image/jpeg": ".jpg", "text/plain": ".txt", "application/pdf": ".pdf"}


def file_part(data: bytes, *, media_type: str, filename: str | None = None) -> dict[str, Any]:
    """A v1.0 file part with the bytes inline."""
    part: dict[str, Any] = {"raw": base64.b64encode(data).decode("ascii"), "mediaType": media_type}
    if filename:
        part["filename"] = filename
    return part


def guess_media_type(path: str | Path) -> str:
    """`report.pdf` -> `application/pdf`; unknown extensions are application/octet-stream."""
    guessed, _ = mimetypes.guess_type(str(path), strict=False)
    return guessed or OCTET_STREAM


def file_part_from_path(path: str | Path, *, media_type: str | None = None) -> dict[str, Any]:
    """A file part with the file's bytes, its name (not its directories) and its media type
    (guessed from the extension unless given). OSError when it cannot be read."""
    path = Path(path)
    return file_part(
        path.read_bytes(),
        media_type=media_type or guess_media_type(path),
        filename=path.name,
    )


@dataclass(frozen=True, slots=True)
class FileData:
    """One file part, decoded: `data` for inline bytes, `url` for a reference."""

    filename: str
    media_type: str
    data: bytes | None
    url: str | None

    def __repr__(self) -> str:
        size = "url" if self.data is None else f"{len(self.data)} bytes"
        return f"<FileData {self.filename!r} {self.media_type} {size}>"


def files_in(parts: Iterable[Any]) -> list[FileData]:
    """The file parts (`raw` or `url`) among `parts`; raw bytes that are not base64 are
    skipped (a server bug, not ours to crash on)."""
    files = []
    for part in parts:
        if not isinstance(part, dict) or ("raw" not in part and "url" not in part):
            continue
        data = None
        if "raw" in part:
            try:
                data = base64.b64decode(str(part["raw"]), validate=True)
            except (binascii.Error, ValueError):
                continue
        files.append(
            FileData(
                filename=str(part.get("filename") or ""),
                media_type=str(part.get("mediaType") or OCTET_STREAM),
                data=data,
                url=None if data is not None else str(part["url"]),
            )
        )
    return files


def safe_name(name: str, default: str = "artifact") -> str:
    """A bare file name: no directories, control characters or leading dots."""
    base = re.split(r"[/\\]", name)[-1]
    base = _UNSAFE.sub("", base).strip().lstrip(".").strip()
    return base[:120] or default


def extension_for(media_type: str) -> str:
    return _EXTENSIONS.get(media_type) or mimetypes.guess_extension(media_type) or ".bin"


class FileSaver:
    """Writes artifact file parts under `directory` (created when needed)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._paths: dict[tuple[str, int], Path] = {}

    def __repr__(self) -> str:
        return f"<FileSaver {str(self.directory)!r} files={len(self._paths)}>"

    def save(
        self, artifact_id: str, name: str, parts: Iterable[Any], *, append: bool = False
    ) -> list[tuple[Path, FileData]]:
        """Write the raw file parts of one artifact event; return what was written where."""
        written = []
        for index, file in enumerate(f for f in files_in(parts) if f.data is not None):
            assert file.data is not None
            path = self._path_for(artifact_id, index, file, name)
            with path.open("ab" if append else "wb") as out:
                out.write(file.data)
            written.append((path, file))
        return written

    def _path_for(self, artifact_id: str, index: int, file: FileData, name: str) -> Path:
        key = (artifact_id, index)
        if key in self._paths:
            return self._paths[key]
        stem = safe_name(file.filename, default="")
        if not stem:
            stem = safe_name(name or artifact_id) + (f"-{index + 1}" if index else "")
            stem += extension_for(file.media_type)
        self.directory.mkdir(parents=True, exist_ok=True)
        taken = set(self._paths.values())
        path, count = self.directory / stem, 1
        while path in taken:  # another artifact already writes a file of that name
            count += 1
            base, dot, ext = stem.rpartition(".")
            path = self.directory / (f"{base}-{count}.{ext}" if dot else f"{stem}-{count}")
        self._paths[key] = path
        return path
