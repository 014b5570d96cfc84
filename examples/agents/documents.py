"""Reading uploaded documents page by page, for the document-analysis agent.

`open_document(file, max_bytes=...)` checks one `agent_runtime.File` and returns a `Document`
whose `page(i)` extracts the text of page i (0-based): PDFs with pypdf, `text/plain` as a
single page (UTF-8, a BOM allowed). Every refusal is a `DocumentError` whose message is meant
for the user ("report.pdf is encrypted ..."). A file's name is only ever displayed.

URL parts are refused: the agent does not fetch what a client points it at (that would let
any caller make it reach addresses inside its network); send the bytes instead.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pypdf
from pypdf.errors import PyPdfError

from agent_runtime import File

PDF = "application/pdf"
TEXT = "text/plain"
ACCEPTED = (TEXT, PDF)
MAX_FILE_BYTES = 12 * 1024 * 1024  # what the gateway's default 16 MiB body carries in base64
MAX_PAGES = 5000

# pypdf logs each oddity of a damaged file it recovers from; the agent reports what matters.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class DocumentError(Exception):
    """A file the agent cannot read; the message says why, for the user."""


@dataclass(frozen=True, kw_only=True)
class Document:
    """An opened file: `pages` pages, `page(i)` the text of page i (may raise DocumentError)."""

    name: str
    kind: str
    pages: int
    page: Callable[[int], str]

    def __repr__(self) -> str:
        return f"<Document name={self.name!r} kind={self.kind} pages={self.pages}>"


def open_document(file: File, *, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Check `file` and open it; DocumentError when it is refused or unreadable."""
    if file.data is None:
        raise DocumentError(
            f"{file.name}: files given by URL are not fetched; attach the file itself"
        )
    if file.media_type not in ACCEPTED:
        accepted = " or ".join(ACCEPTED)
        raise DocumentError(f"{file.name}: {file.media_type or 'no media type'} is not {accepted}")
    if len(file.data) > max_bytes:
        raise DocumentError(
            f"{file.name} is {len(file.data)} bytes; this agent reads files of up to "
            f"{max_bytes} bytes"
        )
    if file.media_type == TEXT:
        return _text(file)
    return _pdf(file)


def _text(file: File) -> Document:
    assert file.data is not None
    try:
        text = file.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"{file.name} is not UTF-8 text (byte {exc.start} cannot be decoded)"
        ) from None
    return Document(name=file.name, kind="text", pages=1, page=lambda _: text)


def _pdf(file: File) -> Document:
    assert file.data is not None
    if not file.data.lstrip()[:5].startswith(b"%PDF-"):
        raise DocumentError(f"{file.name} is not a PDF (it does not start with %PDF-)")
    try:
        reader = pypdf.PdfReader(io.BytesIO(file.data))
        if reader.is_encrypted and not _opens_without_password(reader):
            raise DocumentError(
                f"{file.name} is encrypted (password-protected); send it without a password"
            )
        pages = len(reader.pages)
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise DocumentError(f"{file.name} is damaged: {exc or type(exc).__name__}") from None
    if pages == 0:
        raise DocumentError(f"{file.name} has no pages")
    if pages > MAX_PAGES:
        raise DocumentError(f"{file.name} has {pages} pages; this agent reads up to {MAX_PAGES}")

    def page(index: int) -> str:  # pypdf is synchronous: callers run it in a thread
        try:
            return reader.pages[index].extract_text() or ""
        except Exception as exc:  # pypdf raises many kinds on a broken page
            raise DocumentError(
                f"{file.name}: page {index + 1} of {pages} is damaged: {exc or type(exc).__name__}"
            ) from None

    return Document(name=file.name, kind="pdf", pages=pages, page=page)


def _opens_without_password(reader: pypdf.PdfReader) -> bool:
    """True for a PDF with an owner password only (readable by anyone)."""
    try:
        return bool(reader.decrypt(""))
    except PyPdfError:  # e.g. AES without a crypto provider: we cannot read it either way
        return False
