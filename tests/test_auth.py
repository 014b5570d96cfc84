"""Authentication: the Authenticator in-process, then a real gateway with auth on."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import string
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.http.auth import Authenticator, Unauthorized
from gateway.ops.settings import ApiKey, AuthSettings
from tests import a2a
from tests.conftest import API_KEYS, AUDIENCE, ISSUER, SECRET, api_key, bearer, make_token
from tests.servers import Process

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def pem(key: Any) -> bytes:
    data: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def headers(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", b"Bearer " + token.encode())]


@pytest.fixture
def hs256(tmp_path: Path) -> Authenticator:
    path = tmp_path / "secret"
    path.write_bytes(SECRET + b"\n")
    keys = tuple(
        ApiKey(principal=p, sha256=hashlib.sha256(k.encode()).hexdigest())
        for p, k in API_KEYS.items()
    )
    settings = AuthSettings(
        jwt_hs256_secret_file=str(path), jwt_audience=AUDIENCE, jwt_issuer=ISSUER, api_keys=keys
    )
    return Authenticator(settings)


@pytest.fixture
def rs256(tmp_path: Path) -> Authenticator:
    path = tmp_path / "public.pem"
    path.write_bytes(pem(RSA_KEY))
    return Authenticator(
        AuthSettings(jwt_public_key_file=str(path), jwt_audience=AUDIENCE, jwt_issuer=ISSUER)
    )


def refused(authenticator: Authenticator, token: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as info:
        authenticator.authenticate(headers(token))
    return info.value


def test_a_valid_hs256_token_gives_its_subject(hs256: Authenticator) -> None:
    assert hs256.authenticate(headers(make_token("carol"))) == "carol"


def test_the_principal_claim_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(SECRET)
    settings = AuthSettings(
        jwt_hs256_secret_file=str(path), jwt_audience=AUDIENCE, principal_claim="email"
    )
    token = make_token("ignored", email="dana@example.com")
    assert Authenticator(settings).authenticate(headers(token)) == "dana@example.com"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 120}, "token expired"),
        ({"nbf": int(time.time()) + 120}, "token not yet valid"),
        ({"aud": "someone-else"}, "wrong audience"),
        ({"iss": "https://evil.test"}, "wrong issuer"),
        ({"exp": None}, 'missing claim "exp"'),
        ({"aud": None}, 'missing claim "aud"'),
        ({"iss": None}, 'missing claim "iss"'),
        ({"sub": None}, 'missing claim "sub"'),
    ],
)
def test_bad_claims_are_refused(hs256: Authenticator, claims: dict[str, Any], reason: str) -> None:
    error = refused(hs256, make_token(**claims))
    assert error.description == reason
    assert error.error == "invalid_token"


def test_a_little_clock_skew_is_allowed(hs256: Authenticator) -> None:
    assert hs256.authenticate(headers(make_token(exp=int(time.time()) - 5))) == "carol"


def test_a_wrong_signature_is_refused(hs256: Authenticator) -> None:
    token = make_token(key=b"another-secret-that-is-long-enough-0123")
    assert refused(hs256, token).description == "bad signature"


def test_alg_none_is_refused(hs256: Authenticator) -> None:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"sub": "mallory", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 60}
    for alg in ("none", "None", "NONE"):
        token = f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}."
        assert refused(hs256, token).description == "token algorithm or key not accepted"


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c", "a.b.c.d", "....", "e30.e30.", "x" * 20_000, "é.é.é"]
)
def test_malformed_tokens_are_refused(hs256: Authenticator, token: str) -> None:
    with pytest.raises(Unauthorized):
        hs256.authenticate([(b"authorization", b"Bearer " + token.encode())])


def test_rs256_tokens_verify_with_the_public_key(rs256: Authenticator) -> None:
    assert rs256.authenticate(headers(make_token("erin", key=RSA_KEY, algorithm="RS256"))) == "erin"


def test_algorithm_confusion_is_refused(rs256: Authenticator) -> None:
    """An HS256 token "signed" with the RSA public key's bytes, where RS256 is expected."""
    public = pem(RSA_KEY)
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    claims = {"sub": "mallory", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 60}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    import hmac

    signature = hmac.new(public, header + b"." + body, hashlib.sha256).digest()
    token = b".".join([header, body, base64.urlsafe_b64encode(signature).rstrip(b"=")])
    assert refused(rs256, token.decode()).description == "token algorithm or key not accepted"
    # ... and an HS256 token signed with the gateway's own secret does not pass either.
    assert refused(rs256, make_token()).description == "token algorithm or key not accepted"


def test_es256_and_jwks(tmp_path: Path) -> None:
    pem_path = tmp_path / "ec.pem"
    pem_path.write_bytes(pem(EC_KEY))
    ec_auth = Authenticator(AuthSettings(jwt_public_key_file=str(pem_path), jwt_audience=AUDIENCE))
    assert ec_auth.authenticate(headers(make_token("frank", key=EC_KEY, algorithm="ES256"))) == (
        "frank"
    )
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    jwks_path = tmp_path / "jwks.json"
    jwks_path.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256"}]}))
    jwks = Authenticator(AuthSettings(jwks_file=str(jwks_path), jwt_audience=AUDIENCE))
    token = jwt.encode(
        {"sub": "gina", "aud": AUDIENCE, "exp": int(time.time()) + 60},
        RSA_KEY,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    assert jwks.authenticate(headers(token)) == "gina"
    other = jwt.encode(
        {"sub": "gina", "aud": AUDIENCE, "exp": int(time.time()) + 60},
        RSA_KEY,
        algorithm="RS256",
        headers={"kid": "unknown"},
    )
    assert refused(jwks, other).description == "token algorithm or key not accepted"


def test_jwt_needs_an_audience(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(SECRET)
    with pytest.raises(ValueError, match="audience"):
        Authenticator(AuthSettings(jwt_hs256_secret_file=str(path)))


def test_api_keys_match_exactly(hs256: Authenticator) -> None:
    key = API_KEYS["alice"]
    assert hs256.authenticate([(b"x-api-key", key.encode())]) == "alice"
    for variant in (key.lower(), key.upper(), f" {key}", f"{key} ", f"{key}\t", key[:-1], ""):
        with pytest.raises(Unauthorized):
            hs256.authenticate([(b"x-api-key", variant.encode())])


def test_no_credentials_is_a_challenge_without_an_error_code(hs256: Authenticator) -> None:
    with pytest.raises(Unauthorized) as info:
        hs256.authenticate([])
    assert info.value.error is None
    assert hs256.challenges(info.value) == [
        'Bearer realm="a2a-gateway"',
        'ApiKey realm="a2a-gateway", header="X-API-Key"',
    ]


# --- a real gateway with auth on -------------------------------------------------------


def metric(base: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    text = httpx.get(base + "/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"^(\w+)(\{[^}]*\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def test_requests_without_credentials_get_401_before_any_work(auth_gateway: Process) -> None:
    url = auth_gateway.address + "/agents/scripted/"
    before = work_done(auth_gateway)
    for method in ("SendMessage", "SendStreamingMessage", "GetTask", "ListTasks"):
        response = httpx.post(
            url, json=a2a.request(method, {"message": a2a.user_message("steps 1")}), timeout=10
        )
        assert response.status_code == 401
        assert response.headers.get_list("www-authenticate") == [
            'Bearer realm="a2a-gateway"',
            'ApiKey realm="a2a-gateway", header="X-API-Key"',
        ]
        error = response.json()["error"]
        assert error["code"] == -32600
        assert error["data"][0]["reason"] == "UNAUTHENTICATED"
    assert work_done(auth_gateway) == before  # no method ran, no agent was called


def work_done(gateway: Process) -> tuple[float, float]:
    """(A2A requests handled, gRPC calls to agents) from the gateway's metrics."""
    lines = httpx.get(gateway.address + "/metrics", timeout=10).text.splitlines()

    def total(name: str) -> float:
        return sum(float(x.split()[-1]) for x in lines if x.startswith(name + "{"))

    return total("a2a_jsonrpc_requests_total"), total("a2a_upstream_calls_total")


def test_a_bad_token_gets_invalid_token(auth_gateway: Process) -> None:
    expired = make_token(exp=int(time.time()) - 300)
    response = a2a.post(auth_gateway.address + "/", "{}", **bearer(expired))
    assert response.status_code == 401
    assert response.headers.get_list("www-authenticate")[0] == (
        'Bearer realm="a2a-gateway", error="invalid_token", error_description="token expired"'
    )
    assert expired not in response.text


def test_public_routes_need_no_credentials(auth_gateway: Process) -> None:
    base = auth_gateway.address
    for path in (
        "/healthz",
        "/agents",
        "/.well-known/agent-card.json",
        "/agents/scripted/.well-known/agent-card.json",
        "/metrics",
        "/readyz",
    ):
        assert httpx.get(base + path, timeout=10).status_code == 200, path
    assert httpx.get(base + "/nope", timeout=10).status_code == 401  # unknown: not public


def test_the_card_advertises_the_schemes(auth_gateway: Process) -> None:
    card = httpx.get(auth_gateway.address + "/.well-known/agent-card.json", timeout=10).json()
    assert card["securitySchemes"] == {
        "bearer": {"httpAuthSecurityScheme": {"scheme": "Bearer", "bearerFormat": "JWT"}},
        "apiKey": {"apiKeySecurityScheme": {"location": "header", "name": "X-API-Key"}},
    }
    assert card["securityRequirements"] == [
        {"schemes": {"bearer": {"list": []}}},
        {"schemes": {"apiKey": {"list": []}}},
    ]
    from a2a.types import a2a_pb2
    from google.protobuf import json_format

    parsed = json_format.ParseDict(card, a2a_pb2.AgentCard(), ignore_unknown_fields=True)
    assert parsed.security_schemes["apiKey"].api_key_security_scheme.name == "X-API-Key"


def test_an_authorised_client_streams_and_the_agent_sees_its_principal(
    auth_gateway: Process,
) -> None:
    url = auth_gateway.address + "/agents/scripted/"
    events = a2a.stream(
        url,
        "SendStreamingMessage",
        {"message": a2a.user_message("steps 2")},
        headers=api_key("bob"),
    )
    assert events[-1].state == "TASK_STATE_COMPLETED"
    reply = a2a.rpc(
        url,
        "SendMessage",
        {"message": a2a.user_message("caller")},
        headers=bearer(make_token("carol")),
    )
    text = reply["result"]["task"]["status"]["message"]["parts"][0]["text"]
    assert text == "principal=carol header=carol"


def test_a_thousand_random_bearer_strings_are_all_refused(auth_gateway: Process) -> None:
    base = auth_gateway.address
    calls_before = metric(base, "a2a_upstream_calls_total")
    failures_before = metric(base, "a2a_auth_failures_total")
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-_.=+/"
    body = json.dumps(a2a.request("SendMessage", {"message": a2a.user_message("steps 1")}))
    statuses = set()
    with httpx.Client(timeout=10) as client:
        for _ in range(1000):
            token = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300)))
            headers = {**a2a.V1, "Content-Type": "application/json", **bearer(token)}
            response = client.post(base + "/", content=body, headers=headers)
            statuses.add(response.status_code)
    assert statuses == {401}
    assert metric(base, "a2a_upstream_calls_total") == calls_before  # no agent was called
    assert metric(base, "a2a_auth_failures_total") - failures_before == 1000


def _events_status(url: str, **query: str) -> tuple[int, bytes]:
    with httpx.stream("GET", url, params=query, timeout=10) as response:
        first = b"" if response.status_code != 200 else next(response.iter_raw())
        return response.status_code, first


def test_the_event_stream_takes_a_token_in_its_query_for_eventsource(
    auth_gateway: Process,
) -> None:
    base = auth_gateway.address + "/agents/scripted/"
    reply = httpx.post(
        base,
        json=a2a.request("SendMessage", {"message": a2a.user_message("steps 2")}),
        headers={**a2a.V1, **api_key("alice")},
        timeout=30,
    )
    task_id = reply.json()["result"]["task"]["id"]
    events = f"{base}tasks/{task_id}/events"
    assert _events_status(events)[0] == 401
    assert _events_status(events, access_token="not-a-key")[0] == 401
    status, first = _events_status(events, access_token=API_KEYS["alice"])
    assert status == 200
    assert task_id.encode() in first
    # A JWT works the same way; another principal sees nothing of alice's task.
    assert _events_status(events, access_token=make_token("alice"))[0] == 200
    assert _events_status(events, access_token=API_KEYS["bob"])[0] == 404


def test_a_query_token_is_not_accepted_anywhere_else(auth_gateway: Process) -> None:
    base = auth_gateway.address + "/agents/scripted/"
    response = httpx.post(
        base,
        params={"access_token": API_KEYS["alice"]},
        json=a2a.request("ListTasks", {}),
        headers=a2a.V1,
        timeout=10,
    )
    assert response.status_code == 401
