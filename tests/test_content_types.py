"""Both JSON media types reach every method of the JSON-RPC binding, which answers
`application/json` (A2A v1.0 9.1); the REST binding's answer type is `application/a2a+json`."""

from __future__ import annotations

import json

import pytest

from gateway.http import content_types
from tests import a2a
from tests.servers import Process


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/A2A+JSON ; charset=UTF-8", True),
        ("application/a2a+json", True),
        ("text/plain", False),
        ("application/jsonx", False),
        (None, False),
    ],
)
def test_json_media_types(value: str | None, accepted: bool) -> None:
    assert content_types.is_json(value) is accepted


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/a2a+json", "application/a2a+json; charset=utf-8"],
)
def test_jsonrpc_accepts_both_json_types_and_answers_application_json(
    gateway: Process, content_type: str
) -> None:
    body = json.dumps(a2a.request("GetTask", {"id": "no-such-task"}))
    response = a2a.post(gateway.address + "/", body, **{"Content-Type": content_type})
    assert response.status_code == 200
    assert content_types.essence(response.headers["content-type"]) == content_types.JSONRPC
    assert response.json()["error"]["code"] == -32001
