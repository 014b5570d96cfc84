"""Extensions in the Python agent runtime (AgentExtension, TaskContext.activate) over
loopback gRPC, and the parsing of A2A-Extensions (core/extensions.py) in-process."""

from __future__ import annotations

import pytest
from google.protobuf import json_format

from agent_runtime import AgentExtension, AgentInfo, TaskContext
from gateway.core import errors, extensions
from generated import task_service_pb2 as pb
from tests.test_demo_agents import agent, collect, run_request

URI = "https://example.test/ext/v1"
INFO = AgentInfo(
    name="ext",
    description="d",
    extensions=[AgentExtension(uri=URI, description="x", required=True, params={"n": 1})],
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def activating(ctx: TaskContext) -> None:
    with pytest.raises(ValueError, match="not requested"):
        ctx.activate("https://example.test/other/v1")
    for uri in ctx.requested_extensions:
        ctx.activate(uri)
    await ctx.working("one")
    if ctx.requested_extensions:
        with pytest.raises(RuntimeError, match="before the turn's first event"):
            ctx.activate(URI)
    await ctx.complete("done")


@pytest.mark.anyio
async def test_describe_declares_the_extensions() -> None:
    async with agent(activating, INFO) as stub:
        description = await stub.Describe(pb.DescribeRequest(), timeout=10)
    [declared] = description.extensions
    assert (declared.uri, declared.description, declared.required) == (URI, "x", True)
    assert json_format.MessageToDict(declared.params) == {"n": 1}


@pytest.mark.anyio
async def test_activated_extensions_ride_on_the_first_event_only() -> None:
    request = run_request("hi")
    request.requested_extensions.append(URI)
    async with agent(activating, INFO) as stub:
        events = await collect(stub, request)
    assert [list(e.activated_extensions) for e in events] == [[URI], []]
    plain = run_request("hi")
    async with agent(activating, INFO) as stub:
        events = await collect(stub, plain)
    assert [list(e.activated_extensions) for e in events] == [[], []]


def test_parse_splits_trims_and_joins_header_fields() -> None:
    assert extensions.parse([]) == ()
    assert extensions.parse(["a:1, b:2", "\tc:3"]) == ("a:1", "b:2", "c:3")


@pytest.mark.parametrize("value", ["a,,b", ",", "", "a b", "a,a", "a\x7fb", "x" * 2049])
def test_parse_refuses_malformed_lists(value: str) -> None:
    with pytest.raises(errors.A2AError) as caught:
        extensions.parse([value])
    assert caught.value.code == errors.INVALID_PARAMS


def test_a_required_extension_not_asked_for_is_32008() -> None:
    description = INFO.to_proto()
    with pytest.raises(errors.A2AError) as caught:
        extensions.requested(description, ("https://example.test/unrelated/v1",))
    assert caught.value.code == errors.EXTENSION_SUPPORT_REQUIRED
    assert extensions.requested(description, ("u:1", URI)) == (URI,)


def test_grpc_metadata_entries_are_one_list() -> None:
    metadata: list[tuple[str, str | bytes]] = [
        ("a2a-extensions", "a:1"),
        ("x-other", "b:2"),
        ("A2A-Extensions", b"c:3"),
    ]
    assert extensions.from_metadata(metadata) == ("a:1", "c:3")
