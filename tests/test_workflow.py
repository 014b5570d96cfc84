"""The workflow agent end to end: it calls document-analysis and echo through the gateway."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import anyio
import pytest

from a2a_client import A2AClient, ArtifactEvent, Event, StatusEvent, TaskEvent
from tests import a2a
from tests.servers import Process, start_agent, start_gateway

pytestmark = pytest.mark.anyio

DOCUMENT = "Agents call agents. The gateway streams their progress."


def start_stack(targets: Callable[[str], dict[str, Process | str]]) -> tuple[str, list[Process]]:
    """Agents and a gateway whose port is chosen first, because the workflow agent is told
    the gateway's URL when it starts. `targets(url)` starts the agents. Should the port be
    taken between choosing and binding it, everything starts again on another."""
    for _ in range(3):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        started = targets(url)
        processes = [p for p in started.values() if isinstance(p, Process)]
        addresses = {n: p.address if isinstance(p, Process) else p for n, p in started.items()}
        try:
            processes.append(start_gateway(addresses, "--port", str(port)))
            return url, processes
        except RuntimeError as exc:
            for process in processes:
                process.stop()
            if "address already in use" not in str(exc).lower():
                raise
    raise RuntimeError("no free port for the gateway in three tries")


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    """document-analysis (0.4 s a step), echo and workflow behind one gateway."""

    def targets(url: str) -> dict[str, Process | str]:
        return {
            "document-analysis": start_agent(
                "examples.agents.document_analysis", env={"DOC_ANALYSIS_DELAY": "0.4"}
            ),
            "echo": start_agent("examples.agents.echo"),
            # told by $A2A_GATEWAY_URL here, by --gateway in failing_child_url
            "workflow": start_agent("examples.agents.workflow", env={"A2A_GATEWAY_URL": url}),
        }

    url, processes = start_stack(targets)
    yield url
    for process in reversed(processes):
        process.stop()


async def test_progress_is_combined_and_artifacts_are_merged(gateway_url: str) -> None:
    events: list[Event] = []
    async with A2AClient(gateway_url + "/agents/workflow/") as client:
        with anyio.fail_after(30):
            events = [e async for e in client.stream(DOCUMENT)]
    progress = [e.progress for e in events if isinstance(e, StatusEvent) and e.progress is not None]
    assert progress == sorted(progress)
    assert progress[0] == 0
    assert progress[-1] == 100
    assert 20 in progress  # echo's share (20 %) once echo has replied, before the analysis
    assert len(set(progress)) >= 5  # the analysis steps move the combined bar too
    texts = [e.message_text for e in events if isinstance(e, StatusEvent)]
    assert "document-analysis: Reading the document" in texts
    merged: dict[str, str] = {}
    for event in events:
        if isinstance(event, ArtifactEvent):
            merged[event.name] = (merged[event.name] if event.append else "") + event.text
    assert merged["echo: reply"] == f"echo: {DOCUMENT}"
    report = merged["document-analysis: analysis"]
    assert report.startswith("Document analysis\nWords: 8\n")
    assert report.endswith("First sentence: Agents call agents.\n")
    chunks = [e for e in events if isinstance(e, ArtifactEvent) and e.name.startswith("document")]
    assert len(chunks) == 6  # streamed chunk by chunk, not re-sent whole
    last = events[-1]
    assert isinstance(last, StatusEvent)
    assert last.state == "completed"
    task = a2a.rpc(gateway_url + "/agents/workflow/", "GetTask", {"id": task_id(events)})
    assert {a["name"] for a in task["result"]["artifacts"]} == set(merged)


def task_id(events: list[Event]) -> str:
    first = events[0]
    assert isinstance(first, TaskEvent)
    return first.task.id


async def test_cancelling_the_workflow_cancels_its_children(gateway_url: str) -> None:
    async with (
        A2AClient(gateway_url + "/agents/workflow/") as client,
        A2AClient(gateway_url + "/agents/document-analysis/") as analysis,
    ):
        with anyio.fail_after(30):
            async for event in client.stream(DOCUMENT):
                if isinstance(event, TaskEvent):
                    parent = event.task.id
                if isinstance(event, StatusEvent) and "Reading" in event.message_text:
                    break  # document-analysis is working on its first step
            child = (await analysis.list(page_size=1)).tasks[0]
            assert child.state == "working"
            assert (await client.cancel(parent)).state == "canceled"
            deadline = time.monotonic() + 10
            while (await analysis.get(child.id)).state != "canceled":
                assert time.monotonic() < deadline, "the child task was not cancelled"
                await anyio.sleep(0.05)


@pytest.fixture(scope="module")
def failing_child_url(scripted_agent: Process) -> Iterator[str]:
    """The workflow whose "echo" child is the scripted test agent, which fails on
    `error-midstream`; document-analysis is the real one, slow enough to be cancelled."""

    def targets(url: str) -> dict[str, Process | str]:
        return {
            "document-analysis": start_agent(
                "examples.agents.document_analysis", env={"DOC_ANALYSIS_DELAY": "2"}
            ),
            "echo": scripted_agent.address,
            "workflow": start_agent("examples.agents.workflow", "--gateway", url),
        }

    url, processes = start_stack(targets)
    yield url
    for process in reversed(processes):
        process.stop()


async def test_a_child_that_fails_fails_the_workflow_and_cancels_the_other(
    failing_child_url: str,
) -> None:
    async with (
        A2AClient(failing_child_url + "/agents/workflow/") as client,
        A2AClient(failing_child_url + "/agents/document-analysis/") as analysis,
    ):
        with anyio.fail_after(30):
            events = [e async for e in client.stream("error-midstream in the echo child")]
        last = events[-1]
        assert isinstance(last, StatusEvent)
        assert last.state == "failed", last.message_text
        assert "echo" in last.message_text
        assert "the model crashed" in last.message_text
        child = (await analysis.list(page_size=1)).tasks[0]
        deadline = time.monotonic() + 10
        while (await analysis.get(child.id)).state != "canceled":
            assert time.monotonic() < deadline, "the other child was not cancelled"
            await anyio.sleep(0.05)
