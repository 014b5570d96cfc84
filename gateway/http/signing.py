"""Signed Agent Cards (A2A v1.0 section 8.4) and the JWKS their `jku` points at.

With a signing key configured (`card_signing.key_file`, an EC P-256/P-384/P-521 or RSA
private key in PEM, and its `kid`), every card the gateway serves carries one
`signatures` entry computed as 8.4.1-8.4.2 say:

1. the payload is the card as an A2A v1.0 `AgentCard` message with default values removed
   (`payload`): only AgentCard fields (the v0.3 compatibility fields `url`,
   `protocolVersion`, `preferredTransport`, `additionalInterfaces` are not AgentCard fields,
   so they are outside the signature: a verifier rebuilding the v1.0 card never sees them),
   empty strings, lists and objects dropped, `required: false` of an extension dropped (a
   plain proto3 bool), `signatures` excluded; then RFC 8785 canonical JSON (`rfc8785`);
2. the protected header is `{"alg", "kid", "typ": "JOSE", "jku"}`, `jku` the gateway's
   `/.well-known/jwks.json`;
3. the JWS (PyJWT) signs `BASE64URL(header) "." BASE64URL(payload)`; the card keeps
   `protected` and `signature` (a detached payload: the verifier recomputes it).

Signatures are cached per (payload, jku), so a card's bytes, and hence its ETag, stay the
same while its content does (ECDSA signatures are randomised: two gateways sharing a key serve
different, equally valid, bytes for the same card). Algorithms: ES256 / ES384 / ES512 by
curve, RS256 for RSA (at least 2048 bits).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt import api_jws
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWKS_PATH = "/.well-known/jwks.json"

CARD_FIELDS = frozenset(
    {
        "name",
        "description",
        "supportedInterfaces",
        "provider",
        "version",
        "documentationUrl",
        "capabilities",
        "securitySchemes",
        "securityRequirements",
        "defaultInputModes",
        "defaultOutputModes",
        "skills",
        "iconUrl",
    }
)
CAPABILITY_FIELDS = frozenset({"streaming", "pushNotifications", "extensions", "extendedAgentCard"})
SKILL_FIELDS = frozenset(
    {
        "id",
        "name",
        "description",
        "tags",
        "examples",
        "inputModes",
        "outputModes",
        "securityRequirements",
    }
)
INTERFACE_FIELDS = frozenset({"url", "protocolBinding", "tenant", "protocolVersion"})
EXTENSION_FIELDS = frozenset({"uri", "description", "required", "params"})
_CURVES = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class Signer:
    """Signs Agent Cards with one private key; see the module docstring."""

    def __init__(self, key_file: str | Path, kid: str, *, cache: int = 64) -> None:
        """Load the key; ValueError naming `key_file` when it is not an EC (P-256, P-384,
        P-521) or RSA (2048 bits or more) private key in PEM without a password."""
        path = Path(key_file)
        try:
            key = load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not a PEM private key without a password ({exc})") from None
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _CURVES:
            self.alg = _CURVES[key.curve.name]
            public = json.loads(ECAlgorithm.to_jwk(key.public_key()))
        elif isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
            self.alg = "RS256"
            public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        else:
            raise ValueError(
                f"{path}: the card signing key must be EC (P-256, P-384, P-521) or RSA "
                "(2048 bits or more)"
            )
        if not kid:
            raise ValueError("the card signing key needs a kid")
        self.kid = kid
        self._key = key
        self.jwk: dict[str, Any] = {**public, "kid": kid, "alg": self.alg, "use": "sig"}
        self._cache: OrderedDict[tuple[bytes, str], dict[str, str]] = OrderedDict()
        self._capacity = cache

    def __repr__(self) -> str:
        return f"<Signer alg={self.alg} kid={self.kid!r} cached={len(self._cache)}>"

    def jwks(self) -> dict[str, Any]:
        """The JWKS document served at JWKS_PATH: the public key only."""
        return {"keys": [self.jwk]}

    def sign(self, card: dict[str, Any], *, jku: str) -> dict[str, Any]:
        """`card` with `signatures` set to this key's AgentCardSignature (the same bytes for
        the same payload and `jku`, while cached)."""
        canonical = payload(card)
        key = (canonical, jku)
        signature = self._cache.get(key)
        if signature is None:
            headers = {"alg": self.alg, "kid": self.kid, "typ": "JOSE", "jku": jku}
            token = api_jws.encode(canonical, self._key, algorithm=self.alg, headers=headers)
            protected, _, value = token.split(".")
            signature = {"protected": protected, "signature": value}
            self._cache[key] = signature
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return {**card, "signatures": [signature]}


def payload(card: dict[str, Any]) -> bytes:
    """The canonical JWS payload of `card` (8.4.1; see the module docstring)."""
    body = _fields(card, CARD_FIELDS)
    capabilities = body.get("capabilities")
    if isinstance(capabilities, dict):
        capabilities = _fields(capabilities, CAPABILITY_FIELDS)
        extensions = capabilities.get("extensions")
        if isinstance(extensions, list):
            capabilities["extensions"] = [_extension(e) for e in extensions]
        body["capabilities"] = capabilities
    for name, fields in (("skills", SKILL_FIELDS), ("supportedInterfaces", INTERFACE_FIELDS)):
        items = body.get(name)
        if isinstance(items, list):
            body[name] = [_fields(i, fields) if isinstance(i, dict) else i for i in items]
    return rfc8785.dumps(_without_empty(body) or {})


def _fields(value: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k in names}


def _extension(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out = _fields(value, EXTENSION_FIELDS)
    if out.get("required") is False:
        del out["required"]
    return out


def _without_empty(value: Any) -> Any:
    """Drop empty strings, lists and objects, recursively (proto3 defaults of repeated,
    message and string fields); None for a value that is empty itself."""
    if isinstance(value, dict):
        out = {k: v for k, v in ((k, _without_empty(v)) for k, v in value.items()) if v is not None}
        return out or None
    if isinstance(value, list):
        items = [v for v in (_without_empty(v) for v in value) if v is not None]
        return items or None
    if value == "" or value is None:
        return None
    return value
