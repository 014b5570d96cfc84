"""Who is calling: bearer JWTs and static API keys, and the middleware that insists on them.

JWT: verified with PyJWT against keys loaded once from disk (an HS256 secret file, a PEM public
key, or a JWKS file; nothing is fetched over the network). Each key is pinned to exactly one
algorithm (HS256 secret -> HS256, RSA -> RS256, EC P-256/384/521 -> ES256/384/512, JWKS -> the
key's `alg` or the one its type implies), and a token is only tried against the keys pinned to
the `alg` in its header. So `alg: none` and algorithm confusion (an HS256 token "signed" with
the RSA public key) find no key and fail. `exp` is required, `nbf`/`iat` are checked when
present, `aud` is required (the audience must be configured), `iss` when an issuer is
configured; `leeway` seconds of clock skew are allowed. The principal is the configured claim
(`sub` by default).

API keys: only SHA-256 hex digests are configured; the presented key is hashed and compared
with `hmac.compare_digest` against every digest. Exact bytes: other case or whitespace fail.

The middleware runs before any routing or body reading. Public routes (GET/HEAD of the Agent
Cards, /agents, /healthz, /readyz, and /metrics when public) pass without credentials; every
other request (every JSON-RPC POST, streaming included, and any future GET event stream) needs
them, and a failure is answered at once: HTTP 401, `WWW-Authenticate`, and the error
body of the binding that serves the path (JSON-RPC or REST, see fallback.py).
The principal goes into `scope["a2a.principal"]` ("anonymous" when auth is off).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.core import request_errors
from gateway.http import fallback
from gateway.ops.settings import AuthSettings

log = logging.getLogger("a2a_gateway.auth")

PRINCIPAL = "a2a.principal"
ANONYMOUS = "anonymous"
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_MAX_TOKEN_BYTES = 16 * 1024

Key = Any  # bytes (HMAC) or a cryptography public key


class Unauthorized(Exception):
    """No acceptable credentials. `error` is the RFC 6750 code (None: none were presented)."""

    def __init__(self, description: str, *, error: str | None = "invalid_token") -> None:
        super().__init__(description)
        self.description = description
        self.error = error


def _pem_algorithm(key: Any, path: str) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _EC_ALGORITHMS:
        return _EC_ALGORITHMS[key.curve.name]
    raise ValueError(f"{path}: only RSA and EC (P-256/384/521) public keys are supported")


def load_keys(settings: AuthSettings) -> list[tuple[str | None, str, Key]]:
    """(kid, pinned algorithm, key) for every configured JWT key. Raises ValueError."""
    keys: list[tuple[str | None, str, Key]] = []
    if settings.jwt_hs256_secret_file:
        secret = Path(settings.jwt_hs256_secret_file).read_bytes().rstrip(b"\r\n")
        if len(secret) < 32:
            raise ValueError("the HS256 secret must be at least 32 bytes")
        keys.append((None, "HS256", secret))
    if settings.jwt_public_key_file:
        path = settings.jwt_public_key_file
        public = load_pem_public_key(Path(path).read_bytes())
        keys.append((None, _pem_algorithm(public, path), public))
    if settings.jwks_file:
        jwks = jwt.PyJWKSet.from_json(Path(settings.jwks_file).read_text())
        for jwk in jwks.keys:
            keys.append((jwk.key_id, jwk.algorithm_name, jwk.key))
    if keys and not settings.jwt_audience:
        raise ValueError("JWT auth needs an audience (--jwt-audience)")
    return keys


def _query_token(scope: Scope) -> bytes | None:
    """`access_token` of a GET on an event stream (`.../tasks/{id}/events`), else None.

    Only there: everywhere else credentials travel in headers, where they stay out of logs
    and browser history.
    """
    if scope.get("method") != "GET" or not str(scope.get("path", "")).endswith("/events"):
        return None
    # latin-1 both ways: percent-escapes become the raw bytes, whatever they are (as UTF-8,
    # a token outside latin-1 could not be encoded back: a 500, found by tests/test_fuzz.py).
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, encoding="latin-1"):
        if key == "access_token" and value:
            return str(value).encode("latin-1")
    return None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


class Authenticator:
    """Turns request headers into a principal, or raises Unauthorized."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.keys = load_keys(settings)
        self.api_keys = [(k.principal, bytes.fromhex(k.sha256)) for k in settings.api_keys]
        self.api_key_header = settings.api_key_header.lower().encode("latin-1")

    def __repr__(self) -> str:
        algorithms = sorted({alg for _, alg, _ in self.keys})
        return f"<Authenticator jwt={algorithms} api_keys={len(self.api_keys)}>"

    def challenges(self, error: Unauthorized | None = None) -> list[str]:
        """WWW-Authenticate values, one per accepted scheme."""
        realm = self.settings.realm
        out: list[str] = []
        if self.keys:
            bearer = f'Bearer realm="{realm}"'
            if error is not None and error.error is not None:
                bearer += f', error="{error.error}", error_description="{error.description}"'
            out.append(bearer)
        if self.api_keys:
            out.append(f'ApiKey realm="{realm}", header="{self.settings.api_key_header}"')
        return out

    def authenticate(self, headers: list[tuple[bytes, bytes]]) -> str:
        authorization = _header(headers, b"authorization")
        if authorization is not None and self.keys:
            scheme, _, token = authorization.partition(b" ")
            if scheme.lower() != b"bearer" or not token.strip():
                raise Unauthorized(
                    "expected: Authorization: Bearer <token>", error="invalid_request"
                )
            return self.verify_jwt(token.strip())
        if self.api_keys:
            presented = _header(headers, self.api_key_header)
            if presented is not None:
                return self.verify_api_key(presented)
        raise Unauthorized("credentials required", error=None)

    def authenticate_query(self, token: bytes) -> str:
        """A credential from the `access_token` query parameter (RFC 6750 section 2.3).

        Browsers' EventSource cannot send headers, so the GET event stream also accepts its
        credential there: a JWT when it looks like one (three dot-separated parts) and JWT keys
        are configured, else an API key.
        """
        if self.keys and token.count(b".") == 2:
            return self.verify_jwt(token)
        if self.api_keys:
            return self.verify_api_key(token)
        if self.keys:
            return self.verify_jwt(token)
        raise Unauthorized("credentials required", error=None)

    def verify_api_key(self, presented: bytes) -> str:
        digest = hashlib.sha256(presented).digest()
        found: str | None = None
        for principal, expected in self.api_keys:
            if hmac.compare_digest(digest, expected):
                found = principal
        if found is None:
            raise Unauthorized("invalid API key")
        return found

    def verify_jwt(self, token: bytes) -> str:
        if len(token) > _MAX_TOKEN_BYTES:
            raise Unauthorized("token too large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("malformed token") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        candidates = [
            (alg, key)
            for key_id, alg, key in self.keys
            if alg == algorithm and (kid is None or key_id is None or key_id == kid)
        ]
        if not candidates:
            raise Unauthorized("token algorithm or key not accepted")
        failure = Unauthorized("bad signature")
        for alg, key in candidates:
            try:
                claims = self._decode(token, key, alg)
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                failure = Unauthorized(_describe(exc))
                break
            principal = claims.get(self.settings.principal_claim)
            if not isinstance(principal, str) or not principal:
                raise Unauthorized(f'missing claim "{self.settings.principal_claim}"')
            return principal
        raise failure

    def _decode(self, token: bytes, key: Key, algorithm: str) -> dict[str, Any]:
        settings = self.settings
        required = ["exp", "aud"] + (["iss"] if settings.jwt_issuer else [])
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.leeway,
            options={"require": required},
        )
        return claims


def _describe(exc: jwt.PyJWTError) -> str:
    """A short reason that never repeats the token or its claims' values."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "token not yet valid"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f'missing claim "{exc.claim}"'
    return "malformed token"


def unauthorized_body(description: str, path: str = "/") -> tuple[bytes, str]:
    """The 401 body in the shape of the binding that serves `path` (http/fallback.py)."""
    return fallback.body(path, request_errors.unauthenticated(description))


class AuthMiddleware:
    """Plain ASGI: authenticate every non-public HTTP request before the app sees it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator | None,
        is_public: Callable[[Scope], bool],
        on_reject: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.is_public = is_public
        self.on_reject = on_reject

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Hands an authenticated request on (see direct.py); rejects the others."""
        if scope["type"] != "http" or self.is_public(scope):
            return self.app(scope, receive, send)
        if self.authenticator is None:
            scope[PRINCIPAL] = ANONYMOUS
            return self.app(scope, receive, send)
        try:
            token = _query_token(scope)
            if token is not None:
                scope[PRINCIPAL] = self.authenticator.authenticate_query(token)
            else:
                scope[PRINCIPAL] = self.authenticator.authenticate(scope["headers"])
        except Unauthorized as exc:
            log.info("authentication failed: %s", exc.description)
            if self.on_reject is not None:
                self.on_reject()
            return self.reject(exc, scope, send)
        return self.app(scope, receive, send)

    async def reject(self, exc: Unauthorized, scope: Scope, send: Send) -> None:
        assert self.authenticator is not None
        body, media_type = unauthorized_body(exc.description, scope["path"])
        headers = [
            (b"content-type", media_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        headers += [(b"www-authenticate", c.encode()) for c in self.authenticator.challenges(exc)]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})
