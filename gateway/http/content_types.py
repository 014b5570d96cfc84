"""The request and response media types of the HTTP bindings (A2A v1.0 9.1, 11.1).

Every HTTP binding accepts a JSON body as `application/json` or `application/a2a+json`, with
or without parameters (`; charset=utf-8`), case-insensitively (RFC 9110 8.3.1). Answers use
the type the spec gives the binding: JSON-RPC `application/json` (9.1), REST
`application/a2a+json` (11.1). Refusing other request types (415) belongs to the edge's
request hygiene, which calls `is_json`.
"""

from __future__ import annotations

JSONRPC = "application/json"
REST = "application/a2a+json"
ACCEPTED = frozenset({JSONRPC, REST})


def essence(content_type: str | None) -> str:
    """The media type without parameters, lower-case (`""` for none)."""
    if content_type is None:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    """True for a request body type every HTTP binding accepts."""
    return essence(content_type) in ACCEPTED
