"""The Agent Cards one gateway serves: each agent's public card, its authenticated extended
card (A2A v1.0 3.1.11, when configured) and, with a signing key, their signatures (8.4).

A card is built per request, since its URLs follow the request (urls.py): card.py builds the
JSON from the agent's Describe answer, the configured overrides, the gateway's own resume
extension and the agent's declared extensions; `extend` adds the configured extended-card
fields; signing.py signs the result last, so the signature (and the ETag of the bytes
served, conditional.py) covers exactly what the client receives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.agents.upstream import Upstream
from gateway.core import extensions, resume
from gateway.http import card
from gateway.http.signing import JWKS_PATH, Signer
from gateway.ops.settings import Settings


class Cards:
    """Builds (and signs) the cards of every agent of one gateway."""

    def __init__(self, settings: Settings, security: dict[str, Any]) -> None:
        """Raises ValueError naming the key file when the signing key does not load."""
        self.settings = settings
        self.security = security
        self.signer: Signer | None = None
        if settings.card_signing_key_file is not None:
            self.signer = Signer(settings.card_signing_key_file, settings.card_signing_kid)

    def __repr__(self) -> str:
        return f"<Cards signer={self.signer!r}>"

    async def document(
        self,
        upstream: Upstream,
        *,
        url: str,
        base: str,
        interfaces: Sequence[card.Interface] | None = None,
        extended: bool = False,
        grpc: bool = False,
        push: bool = False,
    ) -> dict[str, Any]:
        """The card of `upstream` whose JSON-RPC endpoint is `url`, listing `interfaces`
        (`base`: the gateway's base URL, for the JWKS; `grpc`: whether the gRPC binding is
        on, for the resume extension's entry; `push`: whether push notifications are delivered).
        Raises A2AError when the agent cannot be
        described."""
        description = await upstream.describe()
        entry = resume.card_entry(
            retained_events=self.settings.max_events_per_task,
            finished_ttl=self.settings.finished_task_ttl,
            grpc=grpc,
        )
        body = card.build(
            description,
            url=url,
            fallback_name=upstream.name,
            overrides=upstream.spec.card_overrides,
            extensions=[entry, *extensions.declared(description)],
            security=self.security,
            interfaces=interfaces,
            extended_card=bool(upstream.spec.extended_card),
            push=push,
        )
        if extended:
            body = card.extend(body, upstream.spec.extended_card)
        if self.signer is not None:
            body = self.signer.sign(body, jku=base + JWKS_PATH)
        return body
