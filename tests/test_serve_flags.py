"""`a2a-gateway serve` flags and environment variables, each through a real gateway process:
a flag that were ignored (or hard-coded) would fail here, not only in a config mapping."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests import a2a
from tests.conftest import AUDIENCE, bearer, make_token
from tests.servers import Process, start_gateway

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: Any) -> bytes:
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def status_of(base: str, headers: dict[str, str]) -> int:
    """The HTTP status of a GetTask for a task that does not exist: 200 (a JSON-RPC error)
    when the credentials were accepted, 401 when they were not."""
    body = a2a.request("GetTask", {"id": "nope"}, 1)
    response = httpx.post(base + "/", json=body, headers={"A2A-Version": "1.0", **headers})
    return response.status_code


@pytest.fixture
def gateways() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def serve(gateways: list[Process], agent: Process, *args: str, **env: str) -> str:
    process = start_gateway({"scripted": agent.address}, *args, env=env or None)
    gateways.append(process)
    return process.address


def test_metrics_off_serves_no_metrics(scripted_agent: Process, gateways: list[Process]) -> None:
    on = serve(gateways, scripted_agent)
    assert httpx.get(on + "/metrics").status_code == 200
    off = serve(gateways, scripted_agent, "--metrics", "off")
    response = httpx.get(off + "/metrics")
    assert response.status_code == 404
    assert b"a2a_jsonrpc_requests_total" not in response.content


def test_max_body_bytes_is_the_limit(scripted_agent: Process, gateways: list[Process]) -> None:
    base = serve(gateways, scripted_agent, "--max-body-bytes", "2000")
    small = a2a.request("SendMessage", {"message": a2a.user_message("reply hi")}, 1)
    assert len(json.dumps(small)) < 2000
    ok = httpx.post(base + "/", json=small, headers={"A2A-Version": "1.0"})
    assert ok.status_code == 200
    assert "result" in ok.json()
    big = a2a.request("SendMessage", {"message": a2a.user_message("reply " + "x" * 2100)}, 1)
    refused = httpx.post(base + "/", json=big, headers={"A2A-Version": "1.0"})
    assert refused.status_code == 413
    assert "2000 bytes" in refused.json()["error"]["message"]


def test_api_key_header_names_the_header(scripted_agent: Process, gateways: list[Process]) -> None:
    key = "k-0123456789abcdef"
    digest = hashlib.sha256(key.encode()).hexdigest()
    base = serve(
        gateways, scripted_agent, "--api-key-hash", f"ivy={digest}", "--api-key-header", "X-Key"
    )
    assert status_of(base, {"X-Key": key}) == 200
    assert status_of(base, {"X-API-Key": key}) == 401  # the default header is not read


def test_jwt_leeway_allows_that_much_clock_skew(
    scripted_agent: Process, gateways: list[Process], tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"s" * 40)
    common = ["--jwt-hs256-secret-file", str(secret), "--jwt-audience", AUDIENCE]
    lenient = serve(gateways, scripted_agent, *common, "--jwt-leeway", "120")
    strict = serve(gateways, scripted_agent, *common, "--jwt-leeway", "0")
    expired = make_token("jo", key=b"s" * 40, exp=int(time.time()) - 60, iss=None)
    assert status_of(lenient, bearer(expired)) == 200
    assert status_of(strict, bearer(expired)) == 401


@pytest.mark.parametrize(
    ("curve", "algorithm"), [(ec.SECP384R1(), "ES384"), (ec.SECP521R1(), "ES512")]
)
def test_a_public_key_file_verifies_its_curve_s_algorithm(
    scripted_agent: Process,
    gateways: list[Process],
    tmp_path: Path,
    curve: ec.EllipticCurve,
    algorithm: str,
) -> None:
    key = ec.generate_private_key(curve)
    pem = tmp_path / "ec.pem"
    pem.write_bytes(public_pem(key))
    base = serve(
        gateways, scripted_agent, "--jwt-public-key-file", str(pem), "--jwt-audience", AUDIENCE
    )
    good = make_token("kim", key=key, algorithm=algorithm, iss=None)
    assert status_of(base, bearer(good)) == 200
    other = make_token("kim", key=ec.generate_private_key(curve), algorithm=algorithm, iss=None)
    assert status_of(base, bearer(other)) == 401


def test_jwks_file_and_principal_claim_flags(
    scripted_agent: Process, gateways: list[Process], tmp_path: Path
) -> None:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256"}]}))
    base = serve(
        gateways,
        scripted_agent,
        "--jwks-file",
        str(jwks),
        "--jwt-audience",
        AUDIENCE,
        "--jwt-principal-claim",
        "email",
    )
    claims: dict[str, Any] = {"sub": "s-1", "email": "lee@example.com", "aud": AUDIENCE}
    claims["exp"] = int(time.time()) + 60
    token = jwt.encode(claims, RSA_KEY, algorithm="RS256", headers={"kid": "k1"})
    url = base + "/agents/scripted/"
    params = {"message": a2a.user_message("caller")}
    events = a2a.stream(url, "SendStreamingMessage", params, headers=bearer(token))
    final = events[-1].result["statusUpdate"]["status"]["message"]["parts"][0]["text"]
    assert "principal=lee@example.com" in final
    unknown_kid = jwt.encode(claims, RSA_KEY, algorithm="RS256", headers={"kid": "k2"})
    assert status_of(base, bearer(unknown_kid)) == 401


def test_public_url_from_the_environment(scripted_agent: Process, gateways: list[Process]) -> None:
    base = serve(gateways, scripted_agent, A2A_PUBLIC_URL="https://public.example/a2a")
    card = httpx.get(base + "/agents/scripted/.well-known/agent-card.json").json()
    assert card["url"] == "https://public.example/a2a/agents/scripted/"


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "proxy.example"}


def card_url(base: str, source: str) -> str:
    """The card's URL as seen by a client connecting from `source` (a loopback address)."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport) as client:
        url = base + "/agents/scripted/.well-known/agent-card.json"
        value: str = client.get(url, headers=FORWARDED).json()["url"]
        return value


def test_forwarded_headers_from_an_untrusted_peer_change_nothing(
    scripted_agent: Process, gateways: list[Process]
) -> None:
    """The default trusts 127.0.0.1 only: the same headers from 127.0.0.2 are ignored."""
    base = serve(gateways, scripted_agent)
    port = base.rsplit(":", 1)[1]
    assert card_url(base, "127.0.0.1") == "https://proxy.example/agents/scripted/"
    assert card_url(base, "127.0.0.2") == f"http://127.0.0.1:{port}/agents/scripted/"


def test_forwarded_allow_ips_flag_and_environment_choose_the_trusted_peers(
    scripted_agent: Process, gateways: list[Process]
) -> None:
    by_flag = serve(gateways, scripted_agent, "--forwarded-allow-ips", "127.0.0.2")
    assert card_url(by_flag, "127.0.0.2") == "https://proxy.example/agents/scripted/"
    assert card_url(by_flag, "127.0.0.1").startswith("http://127.0.0.1:")
    by_env = serve(gateways, scripted_agent, FORWARDED_ALLOW_IPS="127.0.0.2")
    assert card_url(by_env, "127.0.0.2") == "https://proxy.example/agents/scripted/"
    assert card_url(by_env, "127.0.0.1").startswith("http://127.0.0.1:")


def test_cors_star_allows_any_origin_and_exposes_retry_after(
    scripted_agent: Process, gateways: list[Process]
) -> None:
    base = serve(gateways, scripted_agent, "--cors-origin", "*", "--rate", "1", "--burst", "1")
    preflight = httpx.options(
        base + "/",
        headers={
            "Origin": "https://any.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,a2a-version",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", "https://any.example")
    headers = {"Origin": "https://any.example", "A2A-Version": "1.0"}
    body = a2a.request("GetTask", {"id": "nope"}, 1)
    statuses = [httpx.post(base + "/", json=body, headers=headers) for _ in range(3)]
    limited = next(r for r in statuses if r.status_code == 429)
    assert "retry-after" in limited.headers
    exposed = limited.headers["access-control-expose-headers"].lower()
    assert "retry-after" in exposed
    metrics = httpx.get(base + "/metrics").text
    assert 'a2a_rate_limited_total{limit="rate"}' in metrics
    counted = [x for x in metrics.splitlines() if x.startswith("a2a_rate_limited_total{")]
    assert counted
    assert float(counted[0].split()[-1]) >= 1
