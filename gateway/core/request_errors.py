"""The errors of the client's request itself: malformed, misrouted, or refused at the edge.

Malformed: not JSON (PARSE_ERROR), not a valid request (INVALID_REQUEST), params that do not
validate (INVALID_PARAMS, naming each field in a `google.rpc.BadRequest`). Misrouted: no such
method (or one of the other A2A version), path, verb, agent, tenant or A2A version. Refused at
the edge: unauthenticated, a body too large or too slow, a client gone mid-body, a POST not
declared JSON, a Host this gateway does not serve. Each is an `errors.A2AError` of the tree in
errors.py; its HTTP and gRPC statuses are in the one table, error_table.py.
"""

from __future__ import annotations

from gateway.core.errors import (
    BAD_REQUEST,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    VERSION_NOT_SUPPORTED,
    A2AError,
)


def parse_error(detail: str) -> A2AError:
    return A2AError(PARSE_ERROR, f"Invalid JSON payload: {detail}", reason="PARSE_ERROR")


def invalid_request(detail: str) -> A2AError:
    return A2AError(INVALID_REQUEST, f"Invalid request: {detail}", reason="INVALID_REQUEST")


def method_not_found(method: str) -> A2AError:
    return A2AError(
        METHOD_NOT_FOUND,
        f"Method not found: {method}",
        reason="METHOD_NOT_FOUND",
        metadata={"method": method},
    )


def route_not_found(verb: str, path: str) -> A2AError:
    """No route of the gateway serves `path` (whatever the verb)."""
    return A2AError(
        METHOD_NOT_FOUND,
        f"Not found: no {verb} {path[:200]} here",
        reason="ROUTE_NOT_FOUND",
        metadata={"path": path[:200]},
    )


def agent_not_found(name: str) -> A2AError:
    return A2AError(
        METHOD_NOT_FOUND,
        f"No agent named {name[:100]!r} here",
        reason="AGENT_NOT_FOUND",
        metadata={"agent": name[:100]},
    )


def method_not_allowed(verb: str, path: str, allowed: str) -> A2AError:
    """`path` exists but not for `verb`; `allowed` is the Allow header's value."""
    return A2AError(
        INVALID_REQUEST,
        f"Method not allowed: {path[:200]} answers {allowed}, not {verb}",
        reason="METHOD_NOT_ALLOWED",
        metadata={"path": path[:200], "allow": allowed},
    )


def method_of_other_version(method: str, *, belongs_to: str, requested: str) -> A2AError:
    """A method name of another A2A version than the one the request speaks."""
    how = (
        "send the header A2A-Version: 1.0"
        if belongs_to == "1.0"
        else "send it with A2A-Version: 0.3 or without an A2A-Version header"
    )
    speaks = "A2A-Version: 1.0" if requested == "1.0" else "no A2A-Version header, or 0.3"
    return A2AError(
        METHOD_NOT_FOUND,
        f"Method {method!r} belongs to A2A v{belongs_to}, but this request speaks "
        f"v{requested} ({speaks}): {how}",
        reason="METHOD_NOT_FOUND",
        metadata={"method": method, "methodVersion": belongs_to, "requestVersion": requested},
    )


def invalid_params(violations: list[tuple[str, str]]) -> A2AError:
    """Invalid params; each violation is (field path, description)."""
    summary = "; ".join(f"{field}: {text}" for field, text in violations[:5])
    bad_request = {
        "@type": BAD_REQUEST,
        "fieldViolations": [{"field": f, "description": d} for f, d in violations],
    }
    return A2AError(
        INVALID_PARAMS,
        f"Invalid params: {summary}",
        reason="INVALID_PARAMS",
        metadata={"fields": ",".join(f for f, _ in violations)},
        details=[bad_request],
    )


def unauthenticated(detail: str) -> A2AError:
    return A2AError(INVALID_REQUEST, f"Unauthenticated: {detail}", reason="UNAUTHENTICATED")


def body_too_large(limit: int) -> A2AError:
    return A2AError(
        INVALID_REQUEST,
        f"Invalid request: the body exceeds {limit} bytes",
        reason="BODY_TOO_LARGE",
        metadata={"limit": str(limit)},
    )


def request_timeout(seconds: float) -> A2AError:
    return A2AError(
        INVALID_REQUEST,
        f"Invalid request: the body was not received within {seconds:g} seconds",
        reason="REQUEST_TIMEOUT",
    )


def client_disconnected(received: int) -> A2AError:
    """The client went away before the end of its body (nobody reads this answer)."""
    return A2AError(
        INVALID_REQUEST,
        f"Invalid request: the client disconnected after {received} bytes of the body",
        reason="CLIENT_DISCONNECTED",
    )


def unsupported_media_type(content_type: str | None) -> A2AError:
    """A POST whose body is not declared JSON (a cross-site "simple" request, see guard.py)."""
    shown = repr(content_type) if content_type else "none"
    return A2AError(
        INVALID_REQUEST,
        f"Invalid request: Content-Type must be application/json or application/a2a+json, "
        f"not {shown}",
        reason="UNSUPPORTED_MEDIA_TYPE",
        metadata={"accepted": "application/json,application/a2a+json"},
    )


def host_not_allowed(host: str) -> A2AError:
    """A request whose Host is not one this gateway serves (DNS rebinding, see guard.py)."""
    return A2AError(
        INVALID_REQUEST,
        f"Invalid request: Host {host[:100]!r} is not allowed (see --allowed-host)",
        reason="HOST_NOT_ALLOWED",
    )


def unknown_tenant(name: str, known: list[str]) -> A2AError:
    """No agent of that name (the gRPC binding's `tenant`); HTTP routes answer 404 instead."""
    return A2AError(
        INVALID_PARAMS,
        f"Unknown agent {name!r} (the request's tenant); agents: {', '.join(known)}",
        reason="AGENT_NOT_FOUND",
        metadata={"agent": name[:64], "agents": ",".join(known)},
        details=[
            {
                "@type": BAD_REQUEST,
                "fieldViolations": [{"field": "tenant", "description": "no agent of that name"}],
            }
        ],
    )


def version_not_supported(version: str, supported: list[str]) -> A2AError:
    return A2AError(
        VERSION_NOT_SUPPORTED,
        f"A2A version {version!r} is not supported (supported: {', '.join(supported)})",
        reason="VERSION_NOT_SUPPORTED",
        metadata={"requested": version, "supported": ",".join(supported)},
    )
