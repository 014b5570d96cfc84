"""Property-based fuzzing (hypothesis) of a real gateway process with a running task beside it.

Every method of every version (v1.0, v0.3, early A2A), random and mutated params, ids of every
JSON type, the headers clients send (`A2A-Version`, `Last-Event-ID`, `A2A-Extensions`, auth),
raw bodies near the size and nesting limits, and the browser events endpoint. Properties of
every answer: never a 5xx, never -32603 for a client's mistake, always a binding-shaped error
(a JSON-RPC error object on the JSON-RPC routes), and afterwards: the running task's events
are exactly what its agent sent, the process is alive and its memory is back near its start.

The fuzzing principal is bob; the running task is alice's, so bob's requests that name it must
get -32001 (ownership), and none of them can change it.

Bounded: FUZZ_EXAMPLES examples per test (default 40, derandomized so `make test` is
repeatable) and FUZZ_SECONDS of wall time per test (default 10; examples past it pass
without a request). A longer, random run: `FUZZ_EXAMPLES=2000 FUZZ_SECONDS=300 .venv/bin/python
-m pytest tests/test_fuzz.py`.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gateway.core.params import MAX_DEPTH
from tests import a2a
from tests.servers import Process, start_gateway

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
SECONDS = float(os.environ.get("FUZZ_SECONDS", "10"))
RANDOM = "FUZZ_EXAMPLES" in os.environ
MAX_BODY = 16 * 1024
KEYS = {"alice": "alice-fuzz-key-0123456789", "bob": "bob-fuzz-key-0123456789"}
STEPS = 200  # the running task: "steps 200 60", about 12 s

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: report what failed
    print_blob=True,
)

V1_METHODS = [
    "SendMessage",
    "SendStreamingMessage",
    "GetTask",
    "ListTasks",
    "CancelTask",
    "SubscribeToTask",
    "CreateTaskPushNotificationConfig",
    "GetTaskPushNotificationConfig",
    "ListTaskPushNotificationConfigs",
    "DeleteTaskPushNotificationConfig",
    "GetExtendedAgentCard",
]
V03_METHODS = [
    "message/send",
    "message/stream",
    "tasks/get",
    "tasks/cancel",
    "tasks/resubscribe",
    "tasks/pushNotificationConfig/set",
    "tasks/pushNotificationConfig/get",
    "tasks/pushNotificationConfig/list",
    "tasks/pushNotificationConfig/delete",
    "agent/getAuthenticatedExtendedCard",
    "tasks/send",
    "tasks/sendSubscribe",
]
FIELD_NAMES = [
    "message",
    "messageId",
    "role",
    "parts",
    "text",
    "data",
    "raw",
    "url",
    "file",
    "bytes",
    "uri",
    "kind",
    "metadata",
    "taskId",
    "contextId",
    "id",
    "configuration",
    "returnImmediately",
    "blocking",
    "historyLength",
    "pageSize",
    "pageToken",
    "status",
    "mediaType",
    "sessionId",
    "type",
]

# --- strategies ------------------------------------------------------------------------------

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson can write
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
    | st.sampled_from(["ROLE_USER", "user", "text", "file", "data", "TASK_STATE_WORKING", ""])
)
keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=10)
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=24,
)
request_ids = json_values  # every JSON type: valid ones answer, the others are -32600


def template(method: str, running_id: str) -> dict[str, Any]:
    """Valid params for `method` (bob's view), to be mutated."""
    if method in ("SendMessage", "SendStreamingMessage"):
        message = a2a.user_message("reply fuzz")
        return {"message": message, "configuration": {"returnImmediately": True}}
    if method in ("message/send", "message/stream"):
        parts = [{"kind": "text", "text": "reply fuzz"}]
        return {"message": {"kind": "message", "messageId": "m", "role": "user", "parts": parts}}
    if method in ("tasks/send", "tasks/sendSubscribe"):
        return {"id": running_id, "message": {"role": "user", "parts": [{"text": "reply x"}]}}
    if method == "ListTasks":
        return {"pageSize": 5}
    return {"id": running_id}


@st.composite
def mutated(draw: st.DrawFn, base: Any, depth: int = 0) -> Any:
    """`base` with some of its values replaced, removed or added (recursively)."""
    if depth > 4 or not isinstance(base, dict | list) or draw(st.integers(0, 3)) == 0:
        return draw(json_values) if draw(st.booleans()) else base
    if isinstance(base, list):
        return [draw(mutated(item, depth + 1)) for item in base]
    out = {k: draw(mutated(v, depth + 1)) for k, v in base.items() if draw(st.integers(0, 5))}
    if draw(st.booleans()):
        out[draw(keys)] = draw(json_values)
    return out


def deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"k": value}
    return value


header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(
    str.strip
)  # what a client can send: no outer whitespace (httpx refuses it)
headers = st.fixed_dictionaries(
    {},
    optional={
        "A2A-Version": st.sampled_from(["1.0", "0.3", "", "1.0.7", "2.0", "1", "x"]) | header_text,
        "Last-Event-ID": st.sampled_from(["0", "1", "-1", "1.5", "", "999999999999999999999"])
        | header_text,
        "A2A-Extensions": header_text,
        "X-API-Key": st.sampled_from([KEYS["bob"], KEYS["bob"], "wrong", ""]),
        "Authorization": st.sampled_from(["Bearer x.y.z", "Basic Ym9iOmJvYg==", "Bearer", ""]),
    },
)

# --- the gateway and the running task ---------------------------------------------------------


class Target:
    def __init__(self, process: Process, running_id: str, rss_start: int) -> None:
        self.process = process
        self.url = process.address + "/agents/scripted/"
        self.running_id = running_id
        self.rss_start = rss_start
        self.client = httpx.Client(timeout=httpx.Timeout(10.0))
        self.spent: dict[str, float] = {}

    def within_budget(self, test: str) -> bool:
        started = self.spent.setdefault(test, time.monotonic())
        return time.monotonic() - started < SECONDS


@pytest.fixture(scope="module")
def target(scripted_agent: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    args = ["--keepalive", "1", "--max-body-bytes", str(MAX_BODY)]
    for name, key in KEYS.items():
        args += ["--api-key-hash", f"{name}={hashlib.sha256(key.encode()).hexdigest()}"]
    process = start_gateway({"scripted": scripted_agent.address}, *args)
    alice = {"X-API-Key": KEYS["alice"]}
    params = {"message": a2a.user_message(f"steps {STEPS} 60")}
    params["configuration"] = {"returnImmediately": True}
    reply = a2a.rpc(process.address + "/agents/scripted/", "SendMessage", params, headers=alice)
    running = Target(process, reply["result"]["task"]["id"], rss_kib(process))
    yield running
    running.client.close()
    process.stop()


def rss_kib(process: Process) -> int:
    status = Path(f"/proc/{process.popen.pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match, status
    return int(match.group(1))


# --- the properties -------------------------------------------------------------------------

LIMIT_REASONS = {"EVENTS_EXPIRED"}  # -32603 by design, never for a malformed request


def check_jsonrpc(response: httpx.Response, body: bytes) -> None:
    """A binding-shaped answer: a JSON-RPC response object, or an SSE stream of them."""
    assert response.status_code < 500, (response.status_code, body[:300])
    kind = response.headers.get("content-type", "")
    if kind.startswith("text/event-stream"):
        assert response.status_code == 200
        for line in body.splitlines():
            if line.startswith(b"data: "):
                check_object(orjson.loads(line[6:]), response)
        return
    assert kind.startswith("application/json"), (response.status_code, kind, body[:200])
    check_object(orjson.loads(body), response)


def check_object(payload: Any, response: httpx.Response) -> None:
    assert isinstance(payload, dict), payload
    assert payload.get("jsonrpc") == "2.0", payload
    assert ("result" in payload) != ("error" in payload), payload
    if "error" in payload:
        error = payload["error"]
        assert isinstance(error["code"], int), error
        assert isinstance(error["message"], str), error
        reason = error["data"][0]["reason"] if error.get("data") else None
        assert error["code"] != -32603 or reason in LIMIT_REASONS, error
        if response.status_code != 200:
            assert response.status_code in (400, 401, 403, 404, 408, 410, 413, 415, 429)


def exchange(target: Target, body: bytes, sent: dict[str, str]) -> None:
    """POST `body`, read at most 64 KiB or 20 events of the answer, check it."""
    sent = {"Content-Type": "application/json", **sent}
    with target.client.stream("POST", target.url, content=body, headers=sent) as response:
        received = b""
        for chunk in response.iter_raw():
            received += chunk
            if len(received) > 64 * 1024 or received.count(b"\n\n") >= 20:
                break
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        received = received[: received.rfind(b"\n\n") + 2]  # whole events only
    check_jsonrpc(response, received)


@FUZZ
@given(
    method=st.sampled_from(V1_METHODS + V03_METHODS) | st.text(max_size=20),
    request_id=request_ids,
    data=st.data(),
    sent=headers,
)
def test_json_rpc_calls_always_get_a_json_rpc_answer(
    target: Target, method: str, request_id: Any, data: st.DataObject, sent: dict[str, str]
) -> None:
    params = data.draw(mutated(template(method, target.running_id)), label="params")
    if not target.within_budget("calls"):
        return
    envelope = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    exchange(target, orjson.dumps(envelope), sent)


@FUZZ
@given(
    shape=st.sampled_from(["random", "near-size", "near-depth", "broken", "envelope"]),
    data=st.data(),
    sent=headers,
)
def test_raw_bodies_near_the_limits_always_get_a_json_rpc_answer(
    target: Target, shape: str, data: st.DataObject, sent: dict[str, str]
) -> None:
    method = data.draw(st.sampled_from(["SendMessage", "GetTask", "message/send"]))
    if shape == "random":
        body = data.draw(st.binary(max_size=300))
    elif shape == "near-size":
        size = MAX_BODY + data.draw(st.integers(-64, 64))
        envelope = a2a.request(method, {"id": target.running_id, "pad": ""}, request_id=1)
        base = orjson.dumps(envelope)
        body = base.replace(b'"pad":""', b'"pad":"' + b"x" * max(0, size - len(base)) + b'"')
    elif shape == "near-depth":
        levels = MAX_DEPTH + data.draw(st.integers(-4, 4))
        message = {**a2a.user_message("reply deep"), "metadata": deep(levels)}
        body = orjson.dumps(a2a.request(method, {"message": message, "id": "x"}, request_id=1))
    elif shape == "broken":
        # a fixed id: the body's length must not depend on anything but the draws
        good = orjson.dumps(a2a.request(method, template(method, target.running_id), 1))
        cut = data.draw(st.integers(0, len(good) - 1))
        body = good[:cut] + data.draw(st.binary(max_size=8))
    else:
        envelope = data.draw(st.dictionaries(keys | st.sampled_from(["jsonrpc"]), json_values))
        body = orjson.dumps(envelope)
    if target.within_budget("bodies"):
        exchange(target, body, sent)


@FUZZ
@given(
    task=st.sampled_from(["running", "unknown"]) | st.text(min_size=1, max_size=20),
    query=st.dictionaries(
        st.sampled_from(["lastEventId", "access_token", "A2A-Version", "x"]),
        st.text(max_size=12),
        max_size=3,
    ),
    sent=headers,
)
def test_the_events_endpoint_answers_in_its_shape(
    target: Target, task: str, query: dict[str, str], sent: dict[str, str]
) -> None:
    if not target.within_budget("events"):
        return
    task_id = target.running_id if task == "running" else task
    path = target.url + "tasks/" + quote(task_id, safe="") + "/events"
    with target.client.stream("GET", path, params=query, headers=sent) as response:
        head = b""
        for chunk in response.iter_raw():
            head += chunk
            break
    assert response.status_code < 500, (response.status_code, head[:300])
    if response.status_code not in (200, 204) and response.headers.get(
        "content-type", ""
    ).startswith("application/json"):
        payload = orjson.loads(head) if head.endswith(b"}") else None
        if payload is not None:
            check_object(payload, response)
    if task == "running" and response.status_code == 200:
        pytest.fail("bob read alice's task")


def test_an_access_token_outside_latin_1_is_401_not_500(target: Target) -> None:
    """Found by the events-endpoint fuzzing: the query token was decoded as UTF-8, then
    encoded as latin-1."""
    url = target.url + "tasks/x/events?access_token=%F3%B5%88%A4"
    response = target.client.get(url)
    assert response.status_code == 401
    assert response.json()["error"]["data"][0]["reason"] == "UNAUTHENTICATED"


def test_after_fuzzing_the_running_task_is_intact_and_the_gateway_well(target: Target) -> None:
    assert target.process.popen.poll() is None, target.process.output()[-3000:]
    assert "Traceback" not in target.process.output(), target.process.output()[-3000:]
    alice = {**a2a.V1, "X-API-Key": KEYS["alice"], "Last-Event-ID": "0"}
    events = a2a.stream(target.url, "SubscribeToTask", {"id": target.running_id}, headers=alice)
    assert a2a.ids(events) == list(range(1, STEPS + 6))  # WORKING x N, 3 chunks, COMPLETED
    assert events[-1].state == "TASK_STATE_COMPLETED"
    for i, event in enumerate(events[1 : STEPS + 1], start=1):
        status = event.result["statusUpdate"]["status"]
        assert status["message"]["parts"][0]["text"] == f"step {i}", event
    chunks = [e.result["artifactUpdate"]["artifact"]["parts"][0]["text"] for e in events[-4:-1]]
    assert chunks == ["part0;", "part1;", "part2;"]
    grown = rss_kib(target.process) - target.rss_start
    assert grown < 64 * 1024, f"RSS grew by {grown} KiB while fuzzing"
