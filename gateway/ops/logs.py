"""Logging: request context in contextvars, text or JSON-lines output.

The context (request id, task id, agent, principal) is bound once per request in http/state.py;
tasks started while handling a request (a turn's pump) inherit it, so their lines carry it too.
With tracing on (ops/tracing.py) every line logged inside a span also carries the span's
`trace_id` and `span_id` (32 and 16 hex digits, as OTLP backends show them).
Nothing here logs tokens, API keys or message contents; callers pass ids and codes only.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson
from opentelemetry import trace

CONTEXT = ("request_id", "task_id", "agent", "principal")
TRACE = ("trace_id", "span_id")
EXTRAS = ("method", "code", "duration_ms", "state", "status")
_UNSET: tuple[str | None, ...] = (None,) * len(CONTEXT)
_context: ContextVar[tuple[str | None, ...]] = ContextVar("a2a_log_context", default=_UNSET)
"""One variable for the whole context (not one per field), its value one flat tuple of the
CONTEXT fields in order (None: unset), not a tuple of pairs: each task that inherits it, such
as an open stream or a turn's pump, then holds one small tuple instead of four context
entries or five tuples; and a bind that changes nothing sets nothing (`make bench`, idle
streams)."""
_INDEX = {name: index for index, name in enumerate(CONTEXT)}


_traced = False


def traced(on: bool) -> None:
    """Whether lines look up the current span's ids (only while tracing is on)."""
    global _traced
    _traced = on


def trace_ids() -> dict[str, str]:
    """The current span's `trace_id` and `span_id`, or nothing outside a recorded span."""
    if not _traced:
        return {}
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {
        "trace_id": trace.format_trace_id(span_context.trace_id),
        "span_id": trace.format_span_id(span_context.span_id),
    }


def bind(**values: str | None) -> None:
    """Set context fields for the rest of this task (and the tasks it starts); None unsets."""
    bound = _context.get()
    fields = list(bound)
    for name, value in values.items():
        fields[_INDEX[name]] = value  # KeyError for a name not in CONTEXT
    if tuple(fields) != bound:
        _context.set(tuple(fields))


def current() -> dict[str, str]:
    """The bound fields, in CONTEXT order."""
    return {
        name: value
        for name, value in zip(CONTEXT, _context.get(), strict=True)
        if value is not None
    }


class ContextFilter(logging.Filter):
    """Copies the context onto every record (as attributes and as `context` text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current()
        context.update(trace_ids())
        for name in (*CONTEXT, *TRACE):
            setattr(record, name, context.get(name))
        record.context = "".join(f" {k}={v}" for k, v in context.items())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the context and known extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in (*CONTEXT, *TRACE, *EXTRAS):
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure(level: str, fmt: str) -> None:
    """Send every log line (ours and uvicorn's) to stderr in `fmt` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s%(context)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
