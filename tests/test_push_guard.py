"""The SSRF guard, the retry rules and the signing key, in-process (pure logic; the guard's
resolver is replaced where a test needs a name to resolve a given way)."""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path

import httpx
import jwt
import pytest

from gateway.ops.config import ConfigError, load
from gateway.ops.flags import build_parser
from gateway.ops.overrides import flag_overrides
from gateway.push.delivery import backoff, classify, retry_after, where
from gateway.push.guard import Guard, Refused, Resolver, kind_of
from gateway.push.settings import PushSettings
from gateway.push.signing import Signer

pytestmark = pytest.mark.anyio


def resolving(*answers: list[str]) -> Resolver:
    """A resolver giving each answer in turn (the last one from then on)."""
    calls = iter(answers)
    last: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        nonlocal last
        last = next(calls, last)
        return last

    return resolve


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("100.64.0.1", "non-public"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_addresses_are_classified(address: str, kind: str | None) -> None:
    assert kind_of(ipaddress.ip_address(address)) == kind


async def test_a_public_https_url_passes_and_is_pinned_to_the_checked_address() -> None:
    guard = Guard(resolver=resolving(["93.184.216.34"]))
    target = await guard.resolve("https://hooks.example.com/a2a?x=1")
    url, headers, extensions = target.pin()
    assert url == "https://93.184.216.34/a2a?x=1"
    assert headers == {"Host": "hooks.example.com"}
    assert extensions == {"sni_hostname": "hooks.example.com"}


async def test_dns_rebinding_is_refused_at_delivery_time() -> None:
    guard = Guard(resolver=resolving(["93.184.216.34"], ["127.0.0.1"]))
    await guard.resolve("https://rebind.example/hook")  # config time: public
    with pytest.raises(Refused, match="loopback"):
        await guard.resolve("https://rebind.example/hook")  # delivery time: loopback


async def test_one_refused_address_among_several_refuses_the_url() -> None:
    guard = Guard(resolver=resolving(["93.184.216.34", "10.0.0.7"]))
    with pytest.raises(Refused, match="private"):
        await guard.resolve("https://mixed.example/")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/", "scheme"),
        ("http://example.com/", "https"),
        ("https://a:b@example.com/", "credentials"),
        ("https:///nohost", "no host"),
        ("https://[::1/", "not a valid URL"),
        ("https://example.com:99999/", "not a valid URL"),
    ],
)
async def test_malformed_or_unsafe_urls_are_refused(url: str, why: str) -> None:
    guard = Guard(resolver=resolving(["93.184.216.34"]))
    with pytest.raises(Refused, match=why):
        await guard.resolve(url)


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    async def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(Refused, match="does not resolve"):
        await Guard(resolver=fail).resolve("https://nowhere.invalid/")


async def test_the_allow_list_lets_trusted_hosts_and_networks_through() -> None:
    guard = Guard(
        allow_hosts=["hooks.internal", "10.1.0.0/16", "127.0.0.1"],
        allow_http=True,
        resolver=resolving(["10.9.9.9"]),
    )
    assert (await guard.resolve("http://hooks.internal:8080/x")).address == "10.9.9.9"
    assert (await guard.resolve("http://10.1.2.3/x")).address == "10.1.2.3"
    assert (await guard.resolve("http://127.0.0.1:9000/")).pin()[0] == "http://127.0.0.1:9000/"
    with pytest.raises(Refused):
        await guard.resolve("http://10.2.0.1/x")


async def test_an_ipv6_target_is_pinned_in_brackets() -> None:
    guard = Guard(allow_hosts=["::1"], allow_http=True)
    url, headers, _ = (await guard.resolve("http://[::1]:9000/hook")).pin()
    assert url == "http://[::1]:9000/hook"
    assert headers == {"Host": "[::1]:9000"}


def test_outcomes_of_http_statuses() -> None:
    assert classify(204, httpx.Headers()).ok
    for status in (408, 429, 500, 503):
        assert classify(status, httpx.Headers()).retry
    for status in (301, 400, 401, 404, 410):
        outcome = classify(status, httpx.Headers())
        assert not outcome.ok
        assert not outcome.retry
    assert classify(503, httpx.Headers({"Retry-After": "7"})).retry_after == 7.0


def test_retry_after_takes_seconds_or_a_date() -> None:
    assert retry_after("3") == 3.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after("soon") is None
    assert retry_after(None) is None


def test_backoff_doubles_with_jitter_up_to_a_cap_and_honours_retry_after() -> None:
    settings = PushSettings(backoff=1.0, max_backoff=8.0)
    assert backoff(settings, 1, None, jitter=0.0) == 0.5
    assert backoff(settings, 1, None, jitter=1.0) == 1.0
    assert backoff(settings, 3, None, jitter=1.0) == 4.0
    assert backoff(settings, 10, None, jitter=1.0) == 8.0
    assert backoff(settings, 1, 5.0, jitter=0.0) == 5.0
    assert backoff(settings, 1, 3600.0, jitter=0.0) == 3600.0  # the budget decides (Delivery)


def test_logged_webhook_location_has_no_path_or_query() -> None:
    assert where("https://hooks.example.com/secret/path?token=x") == "https://hooks.example.com"


def test_signatures_verify_with_the_jwks_and_bind_the_body() -> None:
    signer = Signer()
    body = b'{"task":{}}'
    token = signer.sign(body, url="https://h.example/", task_id="t", config_id="c", event_id=3)
    key = jwt.PyJWKSet.from_dict(signer.jwks()).keys[0]
    assert key.key_id == jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, key.key, algorithms=["ES256"], audience="https://h.example/")
    assert claims["request_body_sha256"] == hashlib.sha256(body).hexdigest()
    assert (claims["taskId"], claims["configId"], claims["eventId"]) == ("t", "c", 3)


def test_push_settings_come_from_file_environment_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("agents: [{name: a, target: '127.0.0.1:1'}]\npush: {max_attempts: 3}\n")
    environ = {"A2A_GATEWAY__PUSH__ALLOW_HOSTS": "[127.0.0.1, 10.0.0.0/8]"}
    args = build_parser().parse_args(["serve", "--push-allow-http", "--push-signing"])
    settings = load(path, environ=environ, overrides=flag_overrides(args)).push
    assert settings.max_attempts == 3
    assert settings.allow_hosts == ("127.0.0.1", "10.0.0.0/8")
    assert settings.allow_http
    assert settings.signing
    assert settings.enabled


def test_a_bad_push_setting_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(
        "agents: [{name: a, target: '127.0.0.1:1'}]\npush: {allow_hosts: [10.0.0.0/99]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert caught.value.problems[0][0] == "push.allow_hosts"
    path.write_text("agents: [{name: a, target: '127.0.0.1:1'}]\npush: {timeout: 0}\n")
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert caught.value.problems[0][0] == "push.timeout"
