"""Version negotiation and the per-version method tables (pure logic)."""

from __future__ import annotations

import pytest

from gateway.bindings.jsonrpc import versions
from gateway.core import errors


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({}, {}, "0.3"),
        ({"A2A-Version": ""}, {}, "0.3"),
        ({"A2A-Version": " "}, {}, "0.3"),
        ({"A2A-Version": "0.3"}, {}, "0.3"),
        ({"A2A-Version": "0.3.0"}, {}, "0.3"),
        ({"A2A-Version": "1.0"}, {}, "1.0"),
        ({"A2A-Version": "1.0.1"}, {}, "1.0"),
        ({}, {"A2A-Version": "1.0"}, "1.0"),
        ({"A2A-Version": "0.3"}, {"A2A-Version": "1.0"}, "0.3"),
    ],
)
def test_negotiate(headers: dict[str, str], query: dict[str, str], expected: str) -> None:
    assert versions.negotiate(headers, query) == expected


@pytest.mark.parametrize("value", ["0.5", "1.1", "2.0", "1", "1.0.0.0", "v1.0", "1.x"])
def test_unsupported_versions(value: str) -> None:
    with pytest.raises(errors.A2AError) as caught:
        versions.negotiate({"A2A-Version": value}, {})
    assert caught.value.code == errors.VERSION_NOT_SUPPORTED
    assert caught.value.metadata == {"requested": value, "supported": "1.0,0.3"}


def test_every_route_targets_a_v1_method_or_answers_an_error() -> None:
    for table in versions.tables().values():
        for name, route in table.items():
            assert (route.target in versions.V1_METHODS) != (route.error is not None), name


def test_routes_of_the_other_version_say_where_they_belong() -> None:
    assert versions.route("0.3", "tasks/send").target == "SendMessage"
    with pytest.raises(errors.A2AError) as caught:
        versions.route("1.0", "message/stream")
    assert caught.value.code == errors.METHOD_NOT_FOUND
    assert caught.value.metadata["methodVersion"] == "0.3"
    with pytest.raises(errors.A2AError) as caught:
        versions.route("0.3", "Bogus")
    assert caught.value.message == "Method not found: Bogus"
