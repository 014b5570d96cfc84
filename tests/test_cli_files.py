"""`a2a-gateway call --file PATH --out DIR`: files in, pictures out, from the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests import samples
from tests.servers import ROOT, Process


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_call_with_a_pdf_prints_page_progress_and_the_report(
    use_case_gateway: Process, tmp_path: Path
) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(samples.text_pdf(3))
    url = use_case_gateway.address + "/agents/document-analysis/"
    result = cli("call", url, "--file", str(pdf))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Document analysis of report.pdf (3 pages)\n")
    assert "Top words: streams (6)" in result.stdout
    for n in (1, 2, 3):
        assert f"Reading page {n} of 3" in result.stderr
    assert "── analysis ──" in result.stderr


def test_call_out_writes_each_picture_version_to_one_file(
    use_case_gateway: Process, tmp_path: Path
) -> None:
    url = use_case_gateway.address + "/agents/image-render/"
    out = tmp_path / "pictures"
    result = cli("call", url, "a blue spiral size 64", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # no text artifact
    assert [p.name for p in out.iterdir()] == ["fractal.png"]
    saved = [line for line in result.stderr.splitlines() if line.startswith("saved ")]
    assert len(saved) == 5
    assert all(f"{out / 'fractal.png'} (image/png, " in line for line in saved)
    with Image.open(out / "fractal.png") as picture:
        assert picture.size == (64, 64)


def test_call_json_out_saves_files_too(use_case_gateway: Process, tmp_path: Path) -> None:
    url = use_case_gateway.address + "/agents/image-render/"
    upload = tmp_path / "photo.jpg"
    upload.write_bytes(samples.picture(40, 30, "JPEG"))
    result = cli("call", url, "--file", str(upload), "--json", "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "o" / "photo.jpg") as picture:
        assert (picture.format, picture.size) == ("JPEG", (40, 30))


def test_without_out_the_cli_says_what_arrived(use_case_gateway: Process) -> None:
    url = use_case_gateway.address + "/agents/image-render/"
    result = cli("call", url, "size 32")
    assert result.returncode == 0, result.stderr
    assert "fractal.png: image/png, " in result.stderr
    assert "(--out DIR saves it)" in result.stderr


def test_call_needs_text_or_a_file_and_a_readable_file(
    use_case_gateway: Process, tmp_path: Path
) -> None:
    url = use_case_gateway.address + "/agents/document-analysis/"
    nothing = cli("call", url)
    assert nothing.returncode == 2
    assert "nothing to send" in nothing.stderr
    missing = cli("call", url, "--file", str(tmp_path / "nope.pdf"))
    assert missing.returncode == 1
    assert "cannot read" in missing.stderr
    assert "nope.pdf" in missing.stderr
