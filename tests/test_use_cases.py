"""Files in, pictures out: uploaded documents with page progress, an agent that streams images.

Real agent processes (examples/agents) behind a real gateway; test data made here
(tests/samples.py), never downloaded.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from PIL import Image

from tests import a2a, samples
from tests.servers import Process, start_gateway

PDF = "application/pdf"


@pytest.fixture
def docs(use_case_gateway: Process) -> str:
    return use_case_gateway.address + "/agents/document-analysis/"


@pytest.fixture
def images(use_case_gateway: Process) -> str:
    return use_case_gateway.address + "/agents/image-render/"


def file_message(data: bytes, media_type: str, filename: str, text: str = "") -> dict[str, Any]:
    part = {"raw": base64.b64encode(data).decode(), "mediaType": media_type, "filename": filename}
    message = a2a.user_message(text)
    message["parts"] = [part] if not text else [*message["parts"], part]
    return message


def run(url: str, message: dict[str, Any]) -> list[a2a.SseEvent]:
    return a2a.stream(url, "SendStreamingMessage", {"message": message})


def statuses(events: list[a2a.SseEvent]) -> list[dict[str, Any]]:
    return [e.result["statusUpdate"] for e in events if e.kind == "statusUpdate"]


def status_text(update: dict[str, Any]) -> str:
    message = update["status"].get("message") or {"parts": []}
    return "".join(p.get("text", "") for p in message["parts"])


def artifacts(events: list[a2a.SseEvent]) -> list[dict[str, Any]]:
    return [e.result["artifactUpdate"] for e in events if e.kind == "artifactUpdate"]


def final(events: list[a2a.SseEvent]) -> tuple[str, str]:
    update = statuses(events)[-1]
    return update["status"]["state"], status_text(update)


# --- document-analysis ------------------------------------------------------------------


def test_a_pdf_is_read_page_by_page_with_progress_and_a_result_per_batch(docs: str) -> None:
    events = run(docs, file_message(samples.text_pdf(12), PDF, "report.pdf"))
    working = [u for u in statuses(events) if u["status"]["state"] == "TASK_STATE_WORKING"]
    pages = [status_text(u) for u in working if status_text(u).startswith("Reading page")]
    assert pages == [f"Reading page {n} of 12" for n in range(1, 13)]
    progress = [u["metadata"]["progress"] for u in working]
    assert progress == sorted(progress)
    assert progress[-1] == 100
    chunks = artifacts(events)
    assert [c["append"] for c in chunks] == [False, True, True, True, True]
    assert [c["lastChunk"] for c in chunks] == [False, False, False, False, True]
    text = ["".join(p["text"] for p in c["artifact"]["parts"]) for c in chunks]
    assert text[0] == "Document analysis of report.pdf (12 pages)\n"
    assert text[1].startswith("report.pdf pages 1-5: ")
    assert text[2].startswith("report.pdf pages 6-10: ")
    assert text[3].startswith("report.pdf pages 11-12: ")
    assert "Top words: streams (24), page (12), talks (12)" in text[4]
    assert final(events) == ("TASK_STATE_COMPLETED", "Analysis ready.")


def test_a_text_file_is_one_page(docs: str) -> None:
    body = b"Gateways stream events.\nEvents resume.\n"
    events = run(docs, file_message(body, "text/plain", "notes.txt"))
    assert "Reading page 1 of 1" in [status_text(u) for u in statuses(events)]
    report = "".join(p["text"] for c in artifacts(events) for p in c["artifact"]["parts"])
    assert report.startswith("Document analysis of notes.txt (1 page)\n")
    assert "Words: 5\n" in report
    assert final(events)[0] == "TASK_STATE_COMPLETED"


def test_a_v03_file_part_is_read_too(docs: str) -> None:
    pdf = base64.b64encode(samples.text_pdf(2)).decode()
    message = {
        "kind": "message",
        "messageId": "m-v03",
        "role": "user",
        "parts": [{"kind": "file", "file": {"bytes": pdf, "mimeType": PDF, "name": "old.pdf"}}],
    }
    body = a2a.rpc(docs, "message/send", {"message": message}, headers={"A2A-Version": "0.3"})
    task = body["result"]
    assert task["status"]["state"] == "completed", task["status"]
    text = "".join(p["text"] for p in task["artifacts"][0]["parts"])
    assert text.startswith("Document analysis of old.pdf (2 pages)\n")


def test_the_card_lists_what_document_analysis_accepts(docs: str) -> None:
    import httpx

    card = httpx.get(docs + ".well-known/agent-card.json", timeout=10).json()
    assert card["defaultInputModes"] == ["text/plain", PDF]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (samples.damaged_pdf(), "report.pdf is damaged"),
        (samples.encrypted_pdf(), "report.pdf is encrypted (password-protected)"),
        (b"just text, not a PDF", "report.pdf is not a PDF"),
    ],
    ids=["damaged", "encrypted", "not-a-pdf"],
)
def test_a_pdf_that_cannot_be_read_fails_saying_why(docs: str, data: bytes, reason: str) -> None:
    state, text = final(run(docs, file_message(data, PDF, "report.pdf")))
    assert state == "TASK_STATE_FAILED"
    assert text.startswith(reason), text


def test_a_pdf_with_only_an_owner_password_is_read(docs: str) -> None:
    events = run(docs, file_message(samples.encrypted_pdf(3, user_password=""), PDF, "o.pdf"))
    assert final(events) == ("TASK_STATE_COMPLETED", "Analysis ready.")
    assert "Reading page 3 of 3" in [status_text(u) for u in statuses(events)]


def test_a_text_file_that_is_not_utf8_fails_naming_the_byte(docs: str) -> None:
    state, text = final(run(docs, file_message(b"caf\xe9 au lait", "text/plain", "l1.txt")))
    assert (state, text) == (
        "TASK_STATE_FAILED",
        "l1.txt is not UTF-8 text (byte 3 cannot be decoded)",
    )


def test_a_pdf_without_text_fails_saying_so(docs: str) -> None:
    state, text = final(run(docs, file_message(samples.text_pdf(["", ""]), PDF, "scan.pdf")))
    assert (state, text) == (
        "TASK_STATE_FAILED",
        "scan.pdf: no text found (a scanned document without a text layer?)",
    )


def test_a_file_name_with_path_separators_is_only_its_last_part(docs: str) -> None:
    for name, shown in (("../../etc/passwd.pdf", "passwd.pdf"), ("C:\\tmp\\x.pdf", "x.pdf")):
        events = run(docs, file_message(samples.text_pdf(1), PDF, name))
        first = artifacts(events)[0]["artifact"]["parts"][0]["text"]
        assert first == f"Document analysis of {shown} (1 page)\n"


def test_a_url_part_is_refused_not_fetched(docs: str) -> None:
    message = a2a.user_message("")
    message["parts"] = [{"url": "http://127.0.0.1:9/secret.pdf", "mediaType": PDF}]
    state, text = final(run(docs, message))
    assert state == "TASK_STATE_FAILED"
    assert text == "file-1: files given by URL are not fetched; attach the file itself"


def test_bytes_that_are_not_base64_name_the_part(docs: str) -> None:
    message = a2a.user_message("")
    message["parts"] = [{"raw": "not base64!!", "mediaType": PDF, "filename": "a.pdf"}]
    error = a2a.rpc(docs, "SendMessage", {"message": message})["error"]
    assert error["code"] == -32602
    fields = error["data"][1]["fieldViolations"]
    assert fields == [
        {"field": "message.parts[0].raw", "description": "must be base64-encoded bytes"}
    ]


def test_v03_bytes_that_are_not_base64_are_invalid_params(docs: str) -> None:
    message = {
        "kind": "message",
        "messageId": "m-bad",
        "role": "user",
        "parts": [{"kind": "file", "file": {"bytes": "%%%", "mimeType": PDF, "name": "a.pdf"}}],
    }
    body = a2a.rpc(docs, "message/send", {"message": message}, headers={"A2A-Version": "0.3"})
    assert body["error"]["code"] == -32602
    fields = body["error"]["data"][1]["fieldViolations"]
    assert fields == [
        {"field": "message.parts[0].file.bytes", "description": "must be base64-encoded bytes"}
    ]


def test_a_media_type_the_agent_does_not_take_is_32005(docs: str) -> None:
    message = file_message(samples.picture(), "image/png", "cat.png")
    error = a2a.rpc(docs, "SendMessage", {"message": message})["error"]
    assert error["code"] == -32005
    assert "message.parts[0]" in error["message"]


def test_an_upload_over_the_limit_is_refused_before_its_body_is_read(
    use_case_agents: dict[str, Process],
) -> None:
    agents = {name: agent.address for name, agent in use_case_agents.items()}
    gateway = start_gateway(agents, "--max-body-bytes", "65536")
    try:
        url = gateway.address + "/agents/document-analysis/"
        response = a2a.post_declaring(url, 10 * 1024 * 1024, b'{"jsonrpc":"2.0","id":1,')
        assert response.status == 413
        error = response.json()["error"]
        assert (error["code"], error["data"][0]["reason"]) == (-32600, "BODY_TOO_LARGE")
        big = file_message(samples.text_pdf(1) + b" " * 100_000, PDF, "big.pdf")
        sent = a2a.post(url, json.dumps(a2a.request("SendMessage", {"message": big})))
        assert sent.status_code == 413
        assert sent.json()["error"]["data"][0]["reason"] == "BODY_TOO_LARGE"
    finally:
        gateway.stop()


# --- image-render -----------------------------------------------------------------------


def decode(part: dict[str, Any]) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(part["raw"])))
    image.load()
    return image


def test_the_image_agent_streams_sharper_versions_of_one_picture(images: str) -> None:
    events = run(images, a2a.user_message("seahorse valley 160x120"))
    versions = artifacts(events)
    assert len(versions) == 5
    assert len({v["artifact"]["artifactId"] for v in versions}) == 1
    assert [v["append"] for v in versions] == [False] * 5  # each version replaces the last
    assert [v["lastChunk"] for v in versions] == [False, False, False, False, True]
    assert [v["metadata"]["version"] for v in versions] == [1, 2, 3, 4, 5]
    parts = [v["artifact"]["parts"][0] for v in versions]
    assert {(p["mediaType"], p["filename"]) for p in parts} == {("image/png", "fractal.png")}
    pictures = [decode(p) for p in parts]
    assert {picture.size for picture in pictures} == {(160, 120)}
    assert len({picture.tobytes() for picture in pictures}) == 5  # every version differs
    progress = [u["metadata"]["progress"] for u in statuses(events) if "metadata" in u]
    assert progress == [0, 20, 40, 60, 80, 100]
    assert final(events) == ("TASK_STATE_COMPLETED", "fractal: 160x120 pixels, in focus.")


def test_the_same_text_draws_the_same_picture(images: str) -> None:
    def last(text: str) -> bytes:
        part = artifacts(run(images, a2a.user_message(text)))[-1]["artifact"]["parts"][0]
        return decode(part).tobytes()

    assert last("blue size 64") == last("blue size 64")
    assert last("blue size 64") != last("red size 64")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_uploaded_picture_comes_into_focus(images: str, fmt: str) -> None:
    media_type = f"image/{fmt.lower()}"
    upload = samples.picture(96, 64, fmt)
    events = run(images, file_message(upload, media_type, "../photo.x"))
    parts = [v["artifact"]["parts"][0] for v in artifacts(events)]
    assert {(p["mediaType"], p["filename"]) for p in parts} == {
        (media_type, "photo.jpg" if fmt == "JPEG" else "photo.png")
    }
    pictures = [decode(p) for p in parts]
    assert {picture.size for picture in pictures} == {(96, 64)}
    if fmt == "PNG":  # lossless: the last version is the upload itself
        assert pictures[-1].convert("RGB").tobytes() == decode_bytes(upload).tobytes()
    assert final(events)[0] == "TASK_STATE_COMPLETED"


def decode_bytes(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


@pytest.mark.parametrize("text", ["size 100000", "3000x20", "8x8", "1" * 40 + "x5"])
def test_an_absurd_size_is_rejected_saying_the_bounds(images: str, text: str) -> None:
    state, reason = final(run(images, a2a.user_message(text)))
    assert state == "TASK_STATE_REJECTED"
    assert reason.endswith("is not a size I draw: 16 to 2048 pixels a side"), reason


def test_a_picture_that_is_not_one_fails_saying_so(images: str) -> None:
    state, reason = final(run(images, file_message(b"\x89PNG not really", "image/png", "x.png")))
    assert state == "TASK_STATE_FAILED"
    assert reason.startswith("x.png is not a readable PNG or JPEG"), reason
