"""Helpers of the tracing tests: the environment that turns tracing on, a streaming call, and
the ids and names the tests look for."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.otlp_receiver import ReceivedSpan, Spans

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
REQUEST = "a2a/SendStreamingMessage"
RUN = "a2a_bridge.v1.TaskService/Run"


def otel_env(receiver: Spans, protocol: str = "http/protobuf") -> dict[str, str]:
    """Tracing on by the standard variables alone, exporting to `receiver` quickly."""
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }


def stream(url: str, text: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendStreamingMessage",
        "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": text}]}},
    }
    events = []
    with httpx.stream(
        "POST", url, json=body, headers={"A2A-Version": "1.0", **headers}, timeout=60
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
    return events


def one(spans: list[ReceivedSpan], name: str, service: str | None = None) -> ReceivedSpan:
    found = [s for s in spans if s.name == name and (service is None or s.service == service)]
    assert len(found) == 1, (name, service, spans)
    return found[0]
