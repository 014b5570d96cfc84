"""HTTP caching of small JSON documents (the Agent Card, A2A v1.0 section 8.6).

Each answer carries `Cache-Control: public, max-age=N`, a strong `ETag` (a hash of the exact
body bytes, so two gateways serving the same card agree) and `Last-Modified` (when this
process first served that body). A request whose `If-None-Match` lists the ETag (or `*`) gets
304 with no body; without `If-None-Match`, an `If-Modified-Since` not older than
`Last-Modified` also gets 304 (RFC 9110 section 13.2.2 order).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from email.utils import formatdate, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response

JSON = "application/json"


class Documents:
    """Remembers when each distinct body was first served (at most `capacity` of them)."""

    def __init__(self, *, max_age: int, capacity: int = 256) -> None:
        self.max_age = max_age
        self.capacity = capacity
        self._first_seen: OrderedDict[str, float] = OrderedDict()

    def __repr__(self) -> str:
        return f"<Documents max_age={self.max_age} bodies={len(self._first_seen)}>"

    def _seen(self, etag: str) -> float:
        first = self._first_seen.get(etag)
        if first is None:
            first = float(int(time.time()))  # HTTP dates have whole seconds
            self._first_seen[etag] = first
            while len(self._first_seen) > self.capacity:
                self._first_seen.popitem(last=False)
        return first

    def respond(self, request: Request, body: bytes) -> Response:
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        modified = self._seen(etag)
        headers = {
            "Cache-Control": f"public, max-age={self.max_age}",
            "ETag": etag,
            "Last-Modified": formatdate(modified, usegmt=True),
        }
        if _not_modified(request, etag, modified):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=JSON, headers=headers)


def _not_modified(request: Request, etag: str, modified: float) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since is None:
        return False
    try:
        return parsedate_to_datetime(since).timestamp() >= modified
    except (TypeError, ValueError):
        return False
