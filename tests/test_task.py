from __future__ import annotations

from gateway import task
from gateway.task import TaskRecord


def record() -> TaskRecord:
    return TaskRecord(id="t", context_id="c", agent="a", owner="p")


def message(text: str, role: str = "ROLE_AGENT") -> dict[str, object]:
    return {"messageId": text, "role": role, "parts": [{"text": text}]}


def test_timestamp_is_utc_with_milliseconds() -> None:
    assert task.timestamp(0.0) == "1970-01-01T00:00:00.000Z"
    assert task.timestamp(1.2345) == "1970-01-01T00:00:01.234Z"


def test_begin_turn_snapshot_is_not_changed_by_later_events() -> None:
    r = record()
    body = task.begin_turn(r, message("hi", "ROLE_USER"), 1.0)
    task.set_status(r, task.WORKING, message("w"), 2.0)
    assert body["task"]["status"]["state"] == task.SUBMITTED
    assert len(body["task"]["history"]) == 1


def test_status_message_moves_to_history_when_replaced() -> None:
    r = record()
    task.begin_turn(r, message("hi", "ROLE_USER"), 1.0)
    task.set_status(r, task.WORKING, message("one"), 2.0)
    task.set_status(r, task.COMPLETED, message("two"), 3.0)
    assert [m["messageId"] for m in r.history] == ["hi", "one"]
    assert r.status_message is not None
    assert r.status_message["messageId"] == "two"
    assert [m["messageId"] for m in r.messages()] == ["hi", "one", "two"]


def test_progress_goes_to_event_and_task_metadata() -> None:
    r = record()
    body = task.set_status(r, task.WORKING, None, 1.0, progress=40)
    assert body["statusUpdate"]["metadata"] == {"progress": 40}
    assert r.metadata["progress"] == 40


def test_appended_chunks_accumulate_without_changing_logged_events() -> None:
    r = record()
    first = task.add_artifact(
        r, {"artifactId": "a", "parts": [{"text": "1"}]}, 1.0, append=False, last_chunk=False
    )
    task.add_artifact(
        r, {"artifactId": "a", "parts": [{"text": "2"}]}, 2.0, append=True, last_chunk=True
    )
    assert r.artifacts["a"]["parts"] == [{"text": "1"}, {"text": "2"}]
    assert first["artifactUpdate"]["artifact"]["parts"] == [{"text": "1"}]


def test_final_means_terminal_or_interrupted() -> None:
    r = record()
    assert task.is_final(task.set_status(r, task.INPUT_REQUIRED, None, 1.0))
    assert task.is_final(task.set_status(r, task.CANCELED, None, 1.0))
    assert not task.is_final(task.set_status(r, task.WORKING, None, 1.0))


def test_to_json_history_length() -> None:
    r = record()
    for i in range(3):
        task.begin_turn(r, message(str(i), "ROLE_USER"), float(i))
    assert "history" not in r.to_json(history_length=0)
    assert [m["messageId"] for m in r.to_json(history_length=2)["history"]] == ["1", "2"]
    assert len(r.to_json()["history"]) == 3
