"""Per-principal limits: a request rate (token bucket) and concurrency slots.

`RateLimiter` keeps one token bucket per principal: `burst` tokens, refilled at `rate` per
second; a request takes one. A bucket that has refilled completely is the same as no bucket,
so buckets of idle principals are dropped (a sweep at most every `sweep_every` seconds): memory
is bounded by the principals active in the last few seconds. (We wrote the bucket: aiolimiter
waits instead of refusing and `limits` counts windows, not tokens; this is 30 lines.)

`Slots` counts what a principal holds open (SSE streams, running task turns); a principal with
nothing open has no entry.

`RateLimit` is the ASGI middleware: it runs after authentication on requests that carry a
principal and answers HTTP 429 with `Retry-After` and the path's binding's error (JSON-RPC or REST,
fallback.py), whose details hold a `google.rpc.RetryInfo`, before the app reads the body.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.core import errors
from gateway.http import fallback
from gateway.http.auth import PRINCIPAL


class TokenBucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.updated = now


class RateLimiter:
    """Token buckets by principal. `take()` returns 0.0 (go) or the seconds to wait."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sweep_every: float = 10.0,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.sweep_every = sweep_every
        self._buckets: dict[str, TokenBucket] = {}
        self._swept = clock()

    def __repr__(self) -> str:
        return f"<RateLimiter rate={self.rate:g}/s burst={self.burst:g} buckets={len(self)}>"

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, principal: str) -> float:
        now = self.clock()
        if now - self._swept >= self.sweep_every:
            self.sweep(now)
        bucket = self._buckets.get(principal)
        if bucket is None:
            bucket = self._buckets[principal] = TokenBucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def sweep(self, now: float) -> None:
        """Forget buckets that would be full by now."""
        self._swept = now
        full = [
            p
            for p, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self.rate >= self.burst
        ]
        for principal in full:
            del self._buckets[principal]


class Slots:
    """Concurrent holdings per principal, at most `limit` each (0 = unlimited)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"<Slots limit={self.limit} principals={len(self._held)} held={self.total}>"

    @property
    def total(self) -> int:
        return sum(self._held.values())

    def held(self, principal: str) -> int:
        return self._held.get(principal, 0)

    def acquire(self, principal: str) -> bool:
        count = self._held.get(principal, 0)
        if self.limit and count >= self.limit:
            return False
        self._held[principal] = count + 1
        return True

    def release(self, principal: str) -> None:
        count = self._held.get(principal, 0) - 1
        if count > 0:
            self._held[principal] = count
        else:
            self._held.pop(principal, None)


class RateLimit:
    """Plain ASGI: refuse a principal's request over its rate with 429 + Retry-After."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        on_limited: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.on_limited = on_limited

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Hands a request within its rate on (see direct.py); answers 429 to the others."""
        principal = scope.get(PRINCIPAL)
        if principal is None:
            return self.app(scope, receive, send)
        wait = self.limiter.take(principal)
        if not wait:
            return self.app(scope, receive, send)
        return self.refuse(wait, scope, send)

    async def refuse(self, wait: float, scope: Scope, send: Send) -> None:
        if self.on_limited is not None:
            self.on_limited()
        body, media_type = fallback.body(scope["path"], errors.rate_limited(wait))
        headers = [
            (b"content-type", media_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(max(1, math.ceil(wait))).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
