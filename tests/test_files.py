"""File parts in-process: names reduced to bare file names, parts built and read back."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from a2a_client import FileSaver, file_part, file_part_from_path, files_in, user_message
from agent_runtime import files_of, safe_name
from generated import task_service_pb2 as pb


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\photo.png", "photo.png"),
        ("..hidden", "hidden"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("dir/", "file"),
        ("", "file"),
        ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
    ],
)
def test_agent_side_names_are_bare_file_names(name: str, safe: str) -> None:
    assert safe_name(name) == safe


def test_files_of_a_message_in_order_with_normalised_media_types() -> None:
    message = pb.Message(
        parts=[
            pb.Part(text="hello"),
            pb.Part(raw=b"%PDF-", media_type="Application/PDF; v=1", filename="../a.pdf"),
            pb.Part(url="http://127.0.0.1/x", media_type="image/png"),
        ]
    )
    first, second = files_of(message)
    assert (first.name, first.media_type, first.data, first.url) == (
        "a.pdf",
        "application/pdf",
        b"%PDF-",
        None,
    )
    assert (second.name, second.data, second.url) == ("file-3", None, "http://127.0.0.1/x")


def test_a_file_part_from_a_path_carries_name_type_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"abc")
    part = file_part_from_path(path)
    assert part == {"raw": "YWJj", "mediaType": "text/plain", "filename": "notes.txt"}
    assert file_part(b"\x00", media_type="application/octet-stream") == {
        "raw": "AA==",
        "mediaType": "application/octet-stream",
    }
    message = user_message("", files=[part])
    assert message["parts"] == [part]  # no empty text part before the file
    assert user_message("read it", files=[part])["parts"] == [{"text": "read it"}, part]


def test_files_in_skips_text_and_bytes_that_are_not_base64() -> None:
    parts = [{"text": "x"}, {"raw": "!!"}, {"raw": "AA==", "filename": "z.bin"}, {"url": "u"}]
    found = files_in(parts)
    assert [(f.filename, f.data, f.url) for f in found] == [
        ("z.bin", b"\x00", None),
        ("", None, "u"),
    ]


def raw(data: bytes, **extra: str) -> dict[str, str]:
    return {"raw": base64.b64encode(data).decode(), **extra}


def test_the_saver_never_writes_outside_its_directory(tmp_path: Path) -> None:
    saver = FileSaver(tmp_path / "out")
    evil = raw(b"x", filename="../../evil.png", mediaType="image/png")
    [(path, _)] = saver.save("a1", "picture", [evil])
    assert path == tmp_path / "out" / "evil.png"
    assert not (tmp_path / "evil.png").exists()


def test_the_saver_names_replaces_appends_and_keeps_names_apart(tmp_path: Path) -> None:
    saver = FileSaver(tmp_path)
    [(unnamed, _)] = saver.save("a1", "chart", [raw(b"1", mediaType="image/jpeg")])
    assert unnamed.name == "chart.jpg"
    saver.save("a1", "chart", [raw(b"2", mediaType="image/jpeg")])  # a new version
    assert unnamed.read_bytes() == b"2"
    saver.save("a1", "chart", [raw(b"3", mediaType="image/jpeg")], append=True)
    assert unnamed.read_bytes() == b"23"
    [(other, _)] = saver.save("a2", "chart", [raw(b"x", mediaType="image/jpeg")])
    assert other.name == "chart-2.jpg"  # another artifact of the same name


@pytest.mark.anyio
async def test_an_agent_takes_a_run_request_over_grpcs_default_4_mib() -> None:
    from grpc import aio

    from agent_runtime import AgentInfo, AgentServer, TaskContext
    from generated import task_service_pb2_grpc as pb_grpc

    async def sizes(ctx: TaskContext) -> None:
        await ctx.complete(",".join(f"{f.name}={f.size}" for f in ctx.files))

    data = b"\x00" * (6 * 1024 * 1024)
    part = pb.Part(raw=data, media_type="application/pdf", filename="big.pdf")
    request = pb.RunRequest(task_id="t", context_id="c", message=pb.Message(parts=[part]))
    async with (
        AgentServer(sizes, info=AgentInfo(name="sizes", description="sizes"), grace=0.5) as s,
        aio.insecure_channel(s.address) as channel,
    ):
        events = [e async for e in pb_grpc.TaskServiceStub(channel).Run(request, timeout=20)]
    assert events[-1].status.message.parts[0].text == f"big.pdf={len(data)}"
