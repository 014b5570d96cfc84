"""The gateway's push signing key: a JWT on every webhook request, and the JWKS to check it.

Each request carries `X-A2A-Notification-Signature: <JWT>`, signed with the gateway's key
(ES256 for an EC P-256 key, RS256 for RSA; `kid` in the header). Claims: `iat`, `exp` (5
minutes), `jti` (unique), `aud` (the webhook URL), `taskId`, `configId`, `eventId` and
`request_body_sha256` (hex SHA-256 of the exact body bytes), so a receiver that checks the
signature against the JWKS at `/.well-known/jwks.json` and the hash against the body knows
the gateway sent this body for this URL.

The key is read from a PEM file, or generated at start (then it changes at every restart,
and replicas must share a key file to verify against any replica's JWKS).
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

HEADER = "X-A2A-Notification-Signature"
LIFETIME = 300


class Signer:
    def __init__(self, key_file: str | None = None) -> None:
        if key_file is None:
            self.key: Any = ec.generate_private_key(ec.SECP256R1())
        else:
            with open(key_file, "rb") as handle:
                self.key = serialization.load_pem_private_key(handle.read(), password=None)
        if isinstance(self.key, rsa.RSAPrivateKey):
            self.algorithm = "RS256"
            public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        elif isinstance(self.key, ec.EllipticCurvePrivateKey):
            if not isinstance(self.key.curve, ec.SECP256R1):
                raise ValueError("push signing key: an EC key must be on P-256 (ES256)")
            self.algorithm = "ES256"
            public = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        else:
            raise ValueError("push signing key: must be an RSA or EC (P-256) private key")
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode()
        self.public_jwk = {**public, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def __repr__(self) -> str:
        return f"<Signer {self.algorithm} kid={self.kid}>"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    def sign(self, body: bytes, *, url: str, task_id: str, config_id: str, event_id: int) -> str:
        now = int(time.time())
        claims = {
            "iat": now,
            "exp": now + LIFETIME,
            "jti": uuid.uuid4().hex,
            "aud": url,
            "taskId": task_id,
            "configId": config_id,
            "eventId": event_id,
            "request_body_sha256": hashlib.sha256(body).hexdigest(),
        }
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers={"kid": self.kid})
