"""Media types of message parts, and whether an agent's input modes accept them.

A part's media type is its `mediaType`, else what its content implies: `text/plain` for
text, `application/json` for data, `application/octet-stream` for raw bytes and URLs.

A mode accepts a media type when it is equal (case and parameters ignored), `*/*` or `*`,
a `type/*` wildcard of the same type, or one of the bare words early cards used: `text`
(any `text/*`), `data` (`application/json`), `file` (anything).
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.core.params import PartIn

_BARE = {"data": "application/json"}


def _essence(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()


def of_part(part: PartIn) -> str:
    if part.media_type:
        return _essence(part.media_type)
    if part.text is not None:
        return "text/plain"
    if part.data is not None:
        return "application/json"
    return "application/octet-stream"


def accepts(modes: Iterable[str], media_type: str) -> bool:
    wanted = _essence(media_type)
    kind = wanted.split("/", 1)[0]
    for mode in modes:
        mode = _essence(mode)
        mode = _BARE.get(mode, mode)
        if mode in ("*", "*/*", "file", wanted):
            return True
        if mode.endswith("/*") and mode[:-2] == kind:
            return True
        if "/" not in mode and mode == kind:
            return True
    return False
