from __future__ import annotations

from gateway.core import task
from gateway.core.task import TaskRecord


def record() -> TaskRecord:
    return TaskRecord(id="t", context_id="c", agent="a", owner="p", created=0.0, updated=0.0)


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


def _script() -> tuple[TaskRecord, list[tuple[dict[str, object], float]]]:
    """Every mutator, in a task of two turns, with the bodies they returned and their times."""
    r = record()
    logged: list[tuple[dict[str, object], float]] = []

    def log(body: dict[str, object], now: float) -> None:
        logged.append((body, now))

    log(task.begin_turn(r, message("hi", "ROLE_USER"), 1.0), 1.0)
    log(task.set_status(r, task.WORKING, message("w1"), 2.0, progress=10), 2.0)
    log(task.set_status(r, task.WORKING, None, 2.5, metadata={"k": 1}), 2.5)
    chunk = {"artifactId": "a", "name": "out", "parts": [{"text": "1"}]}
    log(task.add_artifact(r, chunk, 3.0, append=False, last_chunk=False), 3.0)
    more = {"artifactId": "a", "parts": [{"text": "2"}]}
    log(task.add_artifact(r, more, 3.5, append=True, last_chunk=True, metadata={"m": 2}), 3.5)
    log(task.set_status(r, task.INPUT_REQUIRED, message("more?"), 4.0), 4.0)
    log(task.begin_turn(r, message("yes", "ROLE_USER"), 5.0), 5.0)
    log(task.set_status(r, task.WORKING, None, 6.0, metadata={"progress": 70}), 6.0)
    log(
        task.add_artifact(
            r, {"artifactId": "b", "parts": [{"data": {}}]}, 7.0, append=False, last_chunk=True
        ),
        7.0,
    )
    log(task.set_status(r, task.COMPLETED, message("done"), 8.0), 8.0)
    return r, logged


def test_folding_the_logged_bodies_rebuilds_the_record() -> None:
    original, logged = _script()
    rebuilt = record()
    for body, now in logged:
        task.apply_body(rebuilt, body, now)
    assert task.dump(rebuilt) == task.dump(original)
    assert rebuilt.to_json() == original.to_json()


def test_a_checkpoint_then_the_rest_of_the_log_rebuilds_the_record() -> None:
    original, logged = _script()
    for cut in range(len(logged) + 1):
        partial = record()
        for body, now in logged[:cut]:
            task.apply_body(partial, body, now)
        rebuilt = task.restore(task.dump(partial))
        for body, now in logged[cut:]:
            task.apply_body(rebuilt, body, now)
        assert task.dump(rebuilt) == task.dump(original), cut


def test_replay_does_not_share_objects_with_the_logged_bodies() -> None:
    _, logged = _script()
    rebuilt = record()
    for body, now in logged:
        task.apply_body(rebuilt, body, now)
    rebuilt.artifacts["a"]["parts"].append({"text": "x"})
    rebuilt.history.append({"messageId": "x"})
    _, again = _script()
    assert logged == again


def test_progress_in_status_metadata_is_the_task_progress() -> None:
    r = record()
    task.set_status(r, task.WORKING, None, 1.0, metadata={"progress": 5})
    assert r.metadata["progress"] == 5
