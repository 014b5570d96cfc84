from __future__ import annotations

import orjson
import pytest

from gateway.bindings.jsonrpc import envelope as jsonrpc
from gateway.core import errors


def test_parse_accepts_a_request_and_defaults_params() -> None:
    request = jsonrpc.parse(b'{"jsonrpc":"2.0","id":"a","method":"GetTask"}')
    assert request == jsonrpc.Request(id="a", method="GetTask", params={})


def test_parse_rejects_booleans_as_ids() -> None:
    with pytest.raises(errors.A2AError) as info:
        jsonrpc.parse(b'{"jsonrpc":"2.0","id":true,"method":"GetTask"}')
    assert info.value.code == errors.INVALID_REQUEST


def test_null_id_is_allowed() -> None:
    assert jsonrpc.parse(b'{"jsonrpc":"2.0","id":null,"method":"M"}').id is None


def test_error_response_carries_error_info() -> None:
    body = orjson.loads(jsonrpc.error(3, errors.task_not_found("t1")))
    assert body["id"] == 3
    assert body["error"]["code"] == -32001
    assert body["error"]["data"][0]["@type"] == errors.ERROR_INFO
    assert body["error"]["data"][0]["reason"] == "TASK_NOT_FOUND"


def test_request_id_of_is_best_effort() -> None:
    assert jsonrpc.request_id_of(b"nope") is None
    assert jsonrpc.request_id_of(b'{"id":7}') == 7
    assert jsonrpc.request_id_of(b'{"id":true}') is None
