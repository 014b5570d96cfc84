from __future__ import annotations

import pytest

from gateway.core import errors, params


def test_valid_message_round_trips_to_canonical_json() -> None:
    request = params.parse(
        params.SendMessageParams,
        {
            "message": {
                "messageId": "m",
                "role": "ROLE_USER",
                "parts": [{"text": "hi"}, {"raw": "aGk=", "mediaType": "text/plain"}],
                "ignored": 1,
            }
        },
    )
    assert request.message.to_json() == {
        "messageId": "m",
        "role": "ROLE_USER",
        "parts": [{"text": "hi"}, {"raw": "aGk=", "mediaType": "text/plain"}],
    }


def test_errors_name_each_field_with_camel_case_paths() -> None:
    with pytest.raises(errors.A2AError) as info:
        params.parse(params.SendMessageParams, {"message": {"role": "ROLE_USER", "parts": [{}]}})
    fields = info.value.metadata["fields"].split(",")
    assert "message.messageId" in fields
    assert "message.parts[0]" in fields


def test_list_tasks_parses_timestamps() -> None:
    request = params.parse(params.ListTasksParams, {"statusTimestampAfter": "1970-01-01T00:00:10Z"})
    assert request.updated_after() == 10.0
