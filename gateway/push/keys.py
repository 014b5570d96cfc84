"""The JWKS document the gateway serves: its own signing key, and with the Redis store the keys
of every live replica, so a receiver that fetches the JWKS from any replica can verify a
request signed by any of them (each replica with a generated key has a key of its own).

Each replica publishes its public JWK in `P push:jwks` (a hash, kid -> {jwk, until}) when it
starts and every `REFRESH` seconds; the page lists the entries whose `until` (a day after the
last refresh) has not passed, and caches the document for `CACHE` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from gateway.push.signing import Signer

log = logging.getLogger("a2a_gateway")

REFRESH = 600.0
KEEP = 86400.0
CACHE = 5.0


class Keys:
    def __init__(
        self, signer: Signer, redis: aioredis.Redis | None = None, prefix: str = ""
    ) -> None:
        self.signer = signer
        self.redis = redis
        self.key = f"{prefix}push:jwks"
        self._cached: tuple[float, bytes] | None = None
        self._loop: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Keys {self.signer!r} shared={self.redis is not None}>"

    def start(self) -> None:
        if self.redis is not None and self._loop is None:
            self._loop = asyncio.create_task(self._publishing())

    async def publish(self) -> None:
        if self.redis is None:
            return
        entry = {"jwk": self.signer.public_jwk, "until": time.time() + KEEP}
        await self.redis.hset(self.key, self.signer.kid, orjson.dumps(entry))

    async def _publishing(self) -> None:
        while True:
            try:
                await self.publish()
            except (aioredis.RedisError, OSError) as exc:
                log.warning("cannot publish the push signing key: %s", exc)
            await asyncio.sleep(REFRESH)

    async def document(self) -> bytes:
        """The JWKS JSON (this replica's key at least, whatever Redis says)."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < CACHE:
            return self._cached[1]
        keys: dict[str, Any] = {self.signer.kid: self.signer.public_jwk}
        if self.redis is not None:
            try:
                entries = cast(dict[bytes, bytes], await self.redis.hgetall(self.key))
            except (aioredis.RedisError, OSError) as exc:
                log.warning("cannot read the replicas' push signing keys: %s", exc)
                entries = {}
            stale = []
            for kid, raw in entries.items():
                entry = orjson.loads(raw)
                if entry["until"] < time.time():
                    stale.append(kid)
                else:
                    keys.setdefault(kid.decode(), entry["jwk"])
            if stale:
                with contextlib.suppress(aioredis.RedisError, OSError):
                    await self.redis.hdel(self.key, *stale)
        document = orjson.dumps({"keys": list(keys.values())})
        self._cached = (now, document)
        return document

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
