"""A subscription follows the task, not the turn (A2A v1.0 3.1.6, 9.4.6): SubscribeToTask
and the browser events endpoint stay open through INPUT_REQUIRED and the next turn, until a
terminal state; SendStreamingMessage still ends with its turn."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
from httpx_sse import connect_sse

from tests import a2a
from tests.servers import Process

WAIT = 30.0  # seconds; generous, the machine is shared


def url_of(gateway: Process) -> str:
    return gateway.address + "/agents/scripted/"


class Subscriber(threading.Thread):
    """Reads one SSE stream to its end in a thread; `opened` is set at its first event."""

    def __init__(self, method: str, url: str, body: dict[str, Any] | None) -> None:
        super().__init__(daemon=True)
        self.method, self.url, self.body = method, url, body
        self.opened = threading.Event()
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with (
                httpx.Client(timeout=WAIT) as client,
                connect_sse(client, self.method, self.url, json=self.body, headers=a2a.V1) as src,
            ):
                src.response.raise_for_status()
                for sse in src.iter_sse():
                    self.events.append(json.loads(sse.data)["result"])
                    self.opened.set()
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.opened.set()

    def states(self) -> list[str]:
        out = []
        for result in self.events:
            body = result.get("task") or result.get("statusUpdate")
            if body is not None:
                out.append(body["status"]["state"].removeprefix("TASK_STATE_"))
        return out


def test_subscribers_see_the_next_turn_through_to_completed(backend_gateway: Process) -> None:
    """On the memory store and on Redis (the `backend` fixture)."""
    url = url_of(backend_gateway)
    task = a2a.rpc(url, "SendMessage", {"message": a2a.user_message("ask")})["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    v1 = Subscriber("POST", url, a2a.request("SubscribeToTask", {"id": task["id"]}))
    browser = Subscriber("GET", f"{url}tasks/{task['id']}/events", None)
    for subscriber in (v1, browser):
        subscriber.start()
        assert subscriber.opened.wait(WAIT), "no first event within the wait"
        assert subscriber.error is None, subscriber.error
    assert v1.is_alive()  # still open on an interrupted task
    assert browser.is_alive()

    answer = a2a.user_message("go on", taskId=task["id"])
    done = a2a.rpc(url, "SendMessage", {"message": answer})["result"]["task"]
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    for subscriber in (v1, browser):
        subscriber.join(WAIT)
        assert not subscriber.is_alive(), "the stream did not end after COMPLETED"
        assert subscriber.error is None, subscriber.error
        assert subscriber.states() == ["INPUT_REQUIRED", "SUBMITTED", "WORKING", "COMPLETED"]


def test_a_subscription_stays_open_when_the_task_asks_for_input(gateway: Process) -> None:
    url = url_of(gateway)
    params = {"message": a2a.user_message("ask 300"), "configuration": {"returnImmediately": True}}
    task = a2a.rpc(url, "SendMessage", params)["result"]["task"]
    subscriber = Subscriber("POST", url, a2a.request("SubscribeToTask", {"id": task["id"]}))
    subscriber.start()
    assert subscriber.opened.wait(WAIT)
    deadline = time.monotonic() + WAIT
    while "INPUT_REQUIRED" not in subscriber.states():  # the turn interrupts while we watch
        assert time.monotonic() < deadline, subscriber.states()
        subscriber.join(0.02)
    assert subscriber.is_alive()
    answer = a2a.user_message("wait", taskId=task["id"])
    assert "result" in a2a.rpc(url, "SendMessage", {"message": answer})
    subscriber.join(WAIT)
    assert not subscriber.is_alive()
    states = subscriber.states()
    assert "INPUT_REQUIRED" in states
    assert states[-1] == "COMPLETED"


def test_send_streaming_message_still_ends_with_its_turn(gateway: Process) -> None:
    events = a2a.send_stream(url_of(gateway), "ask")
    assert [e.state for e in events] == ["TASK_STATE_SUBMITTED", "TASK_STATE_INPUT_REQUIRED"]


def test_a_subscription_to_a_terminal_task_is_still_refused(gateway: Process) -> None:
    url = url_of(gateway)
    task = a2a.rpc(url, "SendMessage", {"message": a2a.user_message("steps 1")})["result"]["task"]
    error = a2a.rpc(url, "SubscribeToTask", {"id": task["id"]})["error"]
    assert error["code"] == -32004
