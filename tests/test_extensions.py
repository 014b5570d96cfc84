"""A2A extensions end to end (v1.0 4.4.4, 4.6, 3.2.6): declared by the agent's Describe, in
the card beside the gateway's resume extension, asked for with `A2A-Extensions`, passed to
the agent, activated by it, named in the answer's `A2A-Extensions`; a required one missing
is -32008 before the agent sees the request."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from gateway.core import resume
from tests import a2a
from tests.servers import Process, start_agent, start_gateway

REQUIRED = "https://example.test/extensions/required/v1"
OPTIONAL = "https://example.test/extensions/optional/v1"
DECLARED = [
    {"uri": REQUIRED, "description": "Must be used", "required": True},
    {"uri": OPTIONAL, "description": "May be used"},
]
HEADER = "A2A-Extensions"


@pytest.fixture(scope="module")
def ext_gateway() -> Iterator[Process]:
    """A gateway fronting a scripted agent that declares DECLARED, and the echo example."""
    agent = start_agent("tests.agents.scripted", env={"SCRIPTED_EXTENSIONS": json.dumps(DECLARED)})
    echo = start_agent("examples.agents.echo")
    gateway = start_gateway({"scripted": agent.address, "echo": echo.address})
    yield gateway
    gateway.stop()
    echo.stop()
    agent.stop()


def url_of(gateway: Process, name: str = "scripted") -> str:
    return f"{gateway.address}/agents/{name}/"


def send(gateway: Process, text: str, headers: dict[str, str]) -> httpx.Response:
    body = a2a.request("SendMessage", {"message": a2a.user_message(text)})
    return httpx.post(url_of(gateway), json=body, headers={**a2a.V1, **headers}, timeout=30)


def test_the_card_lists_the_agents_extensions_beside_the_resume_extension(
    ext_gateway: Process,
) -> None:
    card = httpx.get(url_of(ext_gateway) + ".well-known/agent-card.json", timeout=30).json()
    extensions = card["capabilities"]["extensions"]
    assert [e["uri"] for e in extensions] == [resume.URI, REQUIRED, OPTIONAL]
    assert extensions[1] == {"uri": REQUIRED, "description": "Must be used", "required": True}
    assert extensions[2]["required"] is False


def test_a_request_without_a_required_extension_is_refused(ext_gateway: Process) -> None:
    response = send(ext_gateway, "extensions", {HEADER: OPTIONAL})
    error = response.json()["error"]
    assert error["code"] == -32008
    assert error["data"][0]["reason"] == "EXTENSION_SUPPORT_REQUIRED"
    assert error["data"][0]["metadata"]["extension"] == REQUIRED
    assert HEADER not in response.headers


def test_v03_send_and_stream_refuse_it_too(ext_gateway: Process) -> None:
    message = {
        "kind": "message",
        "messageId": "m1",
        "role": "user",
        "parts": [{"kind": "text", "text": "extensions"}],
    }
    body = a2a.request("message/send", {"message": message})
    sent = httpx.post(url_of(ext_gateway), json=body, timeout=30).json()
    assert sent["error"]["code"] == -32008
    streamed = httpx.post(
        url_of(ext_gateway), json=a2a.request("message/stream", {"message": message}), timeout=30
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert json.loads(streamed.text.removeprefix("data: "))["error"]["code"] == -32008


def test_requested_extensions_reach_the_agent_and_activated_ones_come_back(
    ext_gateway: Process,
) -> None:
    unknown = "https://example.test/extensions/unknown/v1"
    response = send(ext_gateway, "extensions", {HEADER: f"{REQUIRED}, {unknown} ,{OPTIONAL}"})
    task = response.json()["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    seen = json.loads(task["status"]["message"]["parts"][0]["text"])
    assert seen == [REQUIRED, OPTIONAL]  # in the caller's order; undeclared ones ignored
    assert response.headers[HEADER] == f"{REQUIRED},{OPTIONAL}"


def test_a_streaming_answer_names_the_activated_extensions(ext_gateway: Process) -> None:
    body = a2a.request("SendStreamingMessage", {"message": a2a.user_message("extensions")})
    headers = {**a2a.V1, HEADER: REQUIRED}
    with httpx.stream("POST", url_of(ext_gateway), json=body, headers=headers, timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers[HEADER] == REQUIRED
        text = "".join(r.iter_text())
    assert "TASK_STATE_COMPLETED" in text


def test_two_header_fields_are_one_list(ext_gateway: Process) -> None:
    headers = [("A2A-Version", "1.0"), (HEADER, REQUIRED), (HEADER, OPTIONAL)]
    body = a2a.request("SendMessage", {"message": a2a.user_message("extensions")})
    response = httpx.post(url_of(ext_gateway), json=body, headers=headers, timeout=30)
    assert response.headers[HEADER] == f"{REQUIRED},{OPTIONAL}"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f"{REQUIRED},,{OPTIONAL}", "empty item"),
        (",", "empty item"),
        ("", "empty item"),
        (f"{REQUIRED} {OPTIONAL}", "whitespace"),
        (f"{REQUIRED},{REQUIRED}", "twice"),
    ],
)
def test_malformed_extension_lists_name_the_header(
    ext_gateway: Process, value: str, why: str
) -> None:
    error = send(ext_gateway, "extensions", {HEADER: value}).json()["error"]
    assert error["code"] == -32602
    violation = error["data"][1]["fieldViolations"][0]
    assert violation["field"] == HEADER
    assert why in violation["description"]


def test_other_methods_do_not_need_the_required_extension(ext_gateway: Process) -> None:
    error = a2a.rpc(url_of(ext_gateway), "GetTask", {"id": "no-such-task"})["error"]
    assert error["code"] == -32001


def test_the_echo_example_uses_its_extension_end_to_end(ext_gateway: Process) -> None:
    from examples.agents.echo import STATS_URI

    card = httpx.get(url_of(ext_gateway, "echo") + ".well-known/agent-card.json", timeout=30)
    assert STATS_URI in [e["uri"] for e in card.json()["capabilities"]["extensions"]]
    body = a2a.request("SendMessage", {"message": a2a.user_message("two words")})
    headers = {**a2a.V1, HEADER: STATS_URI}
    response = httpx.post(url_of(ext_gateway, "echo"), json=body, headers=headers, timeout=30)
    assert response.headers[HEADER] == STATS_URI
    part = response.json()["result"]["message"]["parts"][0]
    assert part["text"] == "echo: two words"
    assert part["metadata"][STATS_URI] == {"words": 2, "characters": 9}
    plain = a2a.rpc(url_of(ext_gateway, "echo"), "SendMessage", {"message": a2a.user_message("x")})
    assert "metadata" not in plain["result"]["message"]["parts"][0]


def rest_send(gateway: Process, text: str, headers: dict[str, str]) -> httpx.Response:
    body = {"message": a2a.user_message(text)}
    return httpx.post(url_of(gateway) + "message:send", json=body, headers=headers, timeout=30)


def test_rest_refuses_a_request_without_a_required_extension_with_400(
    ext_gateway: Process,
) -> None:
    response = rest_send(ext_gateway, "extensions", {HEADER: OPTIONAL})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "FAILED_PRECONDITION"
    assert error["details"][0]["reason"] == "EXTENSION_SUPPORT_REQUIRED"


def test_rest_passes_extensions_and_names_the_activated_ones(ext_gateway: Process) -> None:
    response = rest_send(ext_gateway, "extensions", {HEADER: f"{OPTIONAL},{REQUIRED}"})
    assert response.status_code == 200, response.text
    assert response.headers[HEADER] == f"{OPTIONAL},{REQUIRED}"
    seen = json.loads(response.json()["task"]["status"]["message"]["parts"][0]["text"])
    assert seen == [OPTIONAL, REQUIRED]
    malformed = rest_send(ext_gateway, "extensions", {HEADER: f"{REQUIRED},,"})
    assert malformed.status_code == 400
    assert malformed.json()["error"]["details"][1]["fieldViolations"][0]["field"] == HEADER
