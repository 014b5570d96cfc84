"""Test data made on the spot: PDFs of N pages with fpdf2 and pypdf, pictures with Pillow."""

from __future__ import annotations

import io

import pypdf
from fpdf import FPDF
from PIL import Image, ImageDraw


def page_text(number: int) -> str:
    """The text of page `number` of `text_pdf`'s default document."""
    return f"Page {number} talks about gateways and streams. Streams carry events {number}."


def text_pdf(pages: int | list[str]) -> bytes:
    """A PDF with a text layer: `pages` pages of `page_text`, or one page per string."""
    texts = [page_text(n) for n in range(1, pages + 1)] if isinstance(pages, int) else pages
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in texts:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def encrypted_pdf(pages: int = 2, user_password: str = "secret") -> bytes:
    """`text_pdf(pages)` encrypted (AES-256): it opens only with `user_password`, or for
    anyone when that is empty (an owner password alone restricts editing, not reading)."""
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(text_pdf(pages)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def damaged_pdf() -> bytes:
    """A PDF header followed by garbage: no object, no xref, no trailer."""
    return b"%PDF-1.7\n" + bytes(range(256)) * 8


def picture(width: int = 96, height: int = 64, fmt: str = "PNG") -> bytes:
    """A small picture with edges to blur: stripes and a disc."""
    image = Image.new("RGB", (width, height), "#ffffff")
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 8):
        draw.rectangle((x, 0, x + 3, height), fill="#1e40af")
    draw.ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill="#dc2626")
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()
