"""Media types of parts and input-mode matching (pure logic)."""

from __future__ import annotations

import pytest

from gateway.core import media
from gateway.core.params import PartIn


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        ({"text": "hi"}, "text/plain"),
        ({"text": "hi", "mediaType": "Text/Markdown; charset=utf-8"}, "text/markdown"),
        ({"data": {"a": 1}}, "application/json"),
        ({"raw": "aGk="}, "application/octet-stream"),
        ({"url": "http://x/y.png", "mediaType": "image/png"}, "image/png"),
    ],
)
def test_media_type_of_a_part(part: dict[str, object], expected: str) -> None:
    assert media.of_part(PartIn.model_validate(part)) == expected


@pytest.mark.parametrize(
    ("modes", "media_type", "accepted"),
    [
        (["text/plain"], "text/plain", True),
        (["text/plain"], "text/markdown", False),
        (["text/*"], "text/markdown", True),
        (["text"], "text/csv", True),
        (["text"], "application/json", False),
        (["data"], "application/json", True),
        (["file"], "image/png", True),
        (["*/*"], "image/png", True),
        (["IMAGE/PNG"], "image/png", True),
        ([], "text/plain", False),
    ],
)
def test_accepts(modes: list[str], media_type: str, accepted: bool) -> None:
    assert media.accepts(modes, media_type) is accepted
