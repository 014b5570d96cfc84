"""The limits as settings and `serve` flags; the subscriber slots."""

from __future__ import annotations

import pytest

from gateway.core import error_table, errors, request_errors, resume
from gateway.core.subscribers import Subscribers
from gateway.ops.config import load
from gateway.ops.flags import build_parser
from gateway.ops.overrides import flag_overrides
from gateway.ops.settings import Settings


def test_defaults() -> None:
    settings = Settings()
    assert settings.max_subscribers_per_task == 100
    assert settings.max_events_per_task == 10_000
    assert settings.finished_task_ttl == 3600.0
    assert settings.keepalive == 15.0


def test_every_limit_has_a_flag() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--agent=a=127.0.0.1:1",
            "--max-subscribers-per-task=7",
            "--max-events-per-task=70",
            "--task-ttl=5",
            "--max-running-tasks=9",
            "--send-timeout=3",
            "--keepalive=2",
            "--deadline=4",
        ]
    )
    settings = load(None, environ={}, overrides=flag_overrides(args))
    assert settings.max_subscribers_per_task == 7
    assert settings.max_events_per_task == 70
    assert settings.finished_task_ttl == 5.0
    assert settings.max_running_tasks == 9
    assert settings.send_timeout == 3.0
    assert settings.keepalive == 2.0
    assert settings.agents[0].deadline == 4.0


@pytest.mark.parametrize(
    "change",
    [
        {"max_subscribers_per_task": 0},
        {"max_events_per_task": 0},
        {"max_running_tasks": 0},
        {"finished_task_ttl": 0.0},
        {"send_timeout": -1.0},
        {"keepalive": 0.0},
    ],
)
def test_nonsense_limits_are_refused(change: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(change))):
        Settings(**change)  # type: ignore[arg-type]


def test_subscriber_slots_are_counted_per_task_and_released_once() -> None:
    subscribers = Subscribers(limit_per_task=2)
    first = subscribers.acquire("t")
    subscribers.acquire("t")
    with pytest.raises(errors.A2AError) as info:
        subscribers.acquire("t")
    assert info.value.reason == "TOO_MANY_SUBSCRIBERS"
    subscribers.acquire("other")
    forced = subscribers.acquire("t", force=True)
    assert subscribers.count("t") == 3
    first()
    first()
    forced()
    assert subscribers.count("t") == 1


@pytest.mark.parametrize("value", ["0", "17", " 17 ", "000"])
def test_event_ids_that_parse(value: str) -> None:
    assert resume.parse_event_id(value) == int(value)


@pytest.mark.parametrize("value", ["", "x", "-1", "1.0", "1e3", "٣", "9" * 19])
def test_event_ids_that_do_not(value: str) -> None:
    with pytest.raises(errors.A2AError) as info:
        resume.parse_event_id(value)
    assert info.value.code == errors.INVALID_PARAMS
    assert info.value.metadata["fields"] == "Last-Event-ID"


def test_http_statuses_of_the_events_endpoint() -> None:
    assert error_table.events_http_status(errors.task_not_found("t")) == 404
    assert (
        error_table.events_http_status(request_errors.invalid_params([("Last-Event-ID", "no")]))
        == 400
    )
    assert error_table.events_http_status(errors.events_expired("t", 5, 1)) == 410
    assert error_table.events_http_status(errors.too_many_subscribers("t", 1)) == 503
    nothing = errors.nothing_to_replay("t", "TASK_STATE_COMPLETED", 3)
    assert error_table.events_http_status(nothing) == 204
    assert error_table.events_http_status(errors.internal_error("x")) == 500
