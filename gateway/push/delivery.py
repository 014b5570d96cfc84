"""One config's delivery: follow the task's log, POST each event, retry, acknowledge.

Order: events go out one at a time in log order; event N+1 is not sent before N is
acknowledged (a 2xx) or given up on (then the config is failing and nothing more is sent).
The cursor is written after every acknowledgement (`PushState.advance`), so a worker that dies
is continued by another from the event after the last acknowledged one: a receiver may see an
event twice (same `A2A-Event-Id`), never a gap.

Request: `POST url` with the event's v1.0 `StreamResponse` JSON (the same bytes as the
stream's), `Content-Type: application/a2a+json`, `A2A-Event-Id: <seq>`,
`A2A-Notification-Config-Id`, the config's `Authorization: <scheme> <credentials>` and
`X-A2A-Notification-Token`, and, with signing on, `X-A2A-Notification-Signature`. Redirects
are not followed. The response body is never read.

Outcome of one attempt: 2xx acknowledges. 408, 429, 5xx, a timeout (`timeout` seconds for the
whole attempt) or a connection error is retried after a backoff (`backoff` doubled per attempt
up to `max_backoff`, equal jitter: half fixed, half random) or the `Retry-After` the receiver
asked for; after `max_attempts` attempts, or when the next try would come more than
`max_retry_time` seconds after the event's first attempt, the config is failing
(RETRIES_EXHAUSTED). Any other status (3xx, 4xx) is permanent (HTTP_STATUS), as is an address
the guard refuses at delivery time (ADDRESS_REFUSED). A failing config keeps its cursor;
creating it again resumes there.

The worker never blocks the task's pump: it reads the log from its own cursor (`store.follow`),
like a subscriber, and holds one event at a time, so memory is bounded whatever the receiver
does. A cursor that falls out of the retained log restarts from the current Task (a snapshot).
The worker ends when the task's terminal event is acknowledged (state `done`), when the config
fails, is deleted or its claim is lost, or when the task is deleted.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.core import errors
from gateway.core.events import Event
from gateway.core.task import TERMINAL, timestamp
from gateway.push import signing
from gateway.push.configs import DONE, FAILING, Cursor, Failure, PushConfig
from gateway.push.guard import Guard, Refused
from gateway.push.metrics import PushMetrics
from gateway.push.settings import PushSettings
from gateway.push.state import GONE, LOST, PushState
from gateway.stores.contract import EventsExpired, Store

log = logging.getLogger("a2a_gateway")

CONTENT_TYPE = "application/a2a+json"
EVENT_ID = "A2A-Event-Id"
CONFIG_ID = "A2A-Notification-Config-Id"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt: acknowledged, to retry (after at least `retry_after` s), or permanent."""

    result: str  # the metric label: 2xx, 4xx, 5xx, timeout, connection, refused
    ok: bool = False
    retry: bool = False
    reason: str = ""
    message: str = ""
    http_status: int | None = None
    retry_after: float | None = None


def retry_after(value: str | None) -> float | None:
    """A Retry-After header's seconds (delta or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def classify(status: int, headers: httpx.Headers) -> Outcome:
    label = f"{status // 100}xx"
    if 200 <= status < 300:
        return Outcome(label, ok=True, http_status=status)
    if status in (408, 429) or status >= 500:
        return Outcome(
            label,
            retry=True,
            reason="HTTP_STATUS",
            message=f"the webhook answered {status}",
            http_status=status,
            retry_after=retry_after(headers.get("retry-after")),
        )
    what = "redirects are not followed" if 300 <= status < 400 else "a permanent refusal"
    return Outcome(
        label,
        reason="HTTP_STATUS",
        message=f"the webhook answered {status} ({what})",
        http_status=status,
    )


def backoff(
    settings: PushSettings, attempts: int, retry_after: float | None, jitter: float | None = None
) -> float:
    """Seconds to wait after `attempts` failed attempts: `backoff` doubled per attempt up to
    `max_backoff`, half of it fixed and half random (`jitter` in [0, 1] fixes the random
    part), and never less than the receiver's `Retry-After` (a wait beyond the event's
    `max_retry_time` budget gives up instead: see Delivery._deliver)."""
    delay: float = min(settings.max_backoff, settings.backoff * 2.0 ** (attempts - 1))
    delay = delay / 2 + (random.random() if jitter is None else jitter) * delay / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def where(url: str) -> str:
    """The part of a webhook URL that is safe to log: scheme and host (never path or query)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}"


class Sender:
    """What every worker of this process shares: the HTTP client, the guard, the signer."""

    def __init__(
        self,
        settings: PushSettings,
        metrics: PushMetrics,
        *,
        guard: Guard,
        signer: signing.Signer | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.guard = guard
        self.signer = signer
        self.client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # never through a proxy from the environment: the guard decides
            timeout=settings.timeout,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    def __repr__(self) -> str:
        return f"<Sender {self.guard!r} signing={self.signer is not None}>"

    async def attempt(self, config: PushConfig, event_id: int, body: bytes) -> Outcome:
        """POST one event once; never raises for what the receiver or the network does."""
        try:
            target = await self.guard.resolve(config.url)
        except Refused as exc:
            return Outcome("refused", reason="ADDRESS_REFUSED", message=f"the URL {exc}")
        url, pinned, extensions = target.pin()
        headers = {
            **pinned,
            "Content-Type": CONTENT_TYPE,
            EVENT_ID: str(event_id),
            CONFIG_ID: config.id,
            "User-Agent": "a2a-gateway",
            **config.headers(),
        }
        if self.signer is not None:
            headers[signing.HEADER] = self.signer.sign(
                body, url=config.url, task_id=config.task_id, config_id=config.id, event_id=event_id
            )
        request = self.client.build_request(
            "POST", url, content=body, headers=headers, extensions=extensions
        )
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.timeout):
                response = await self.client.send(request, stream=True)
                await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return Outcome("timeout", retry=True, reason="TIMEOUT", message="no answer in time")
        except (httpx.HTTPError, OSError) as exc:
            return Outcome(
                "connection",
                retry=True,
                reason="CONNECTION",
                message=f"cannot reach the webhook ({type(exc).__name__})",
            )
        self.metrics.duration.observe(time.monotonic() - started)
        return classify(response.status_code, response.headers)

    async def close(self) -> None:
        await self.client.aclose()


class Given(Exception):
    """The worker stops: the config is failing, gone, replaced elsewhere, or lost."""


class Delivery:
    """The worker of one config (see the module docstring). `run()` is its whole life."""

    def __init__(
        self, config: PushConfig, cursor: Cursor, *, store: Store, state: PushState, sender: Sender
    ) -> None:
        self.config = config
        self.cursor = cursor
        self.store = store
        self.state = state
        self.sender = sender
        self.version = 0

    def __repr__(self) -> str:
        return f"<Delivery {self.config!r} acked={self.cursor.acked} state={self.cursor.state}>"

    async def run(self) -> None:
        try:
            await self._follow()
        except Given:
            pass
        finally:
            await self.state.release(self.config.task_id, self.config.id)

    async def _follow(self) -> None:
        task_id = self.config.task_id
        pause = 0.05
        while True:
            try:
                if self.cursor.snapshot:
                    record = await self.store.get(task_id)
                    if record is None:
                        return
                    body = {"task": record.to_json()}
                    snapshot = Event(record.last_seq, body, record.terminal)
                    await self._deliver(snapshot, terminal=record.terminal)
                async for batch in self.store.follow(task_id, self.cursor.acked):
                    for event in batch:
                        await self._deliver(event, terminal=_terminal(event.body))
                    pause = 0.05
                return  # the task was deleted
            except EventsExpired:
                log.warning(
                    "push config %s of task %s fell behind the retained events; "
                    "continuing from the current task",
                    self.config.id,
                    task_id,
                )
                self.cursor = Cursor(self.cursor.acked, snapshot=True)
            except errors.A2AError as exc:  # the store is away: try again, nothing is lost
                log.warning("push delivery of task %s waits for the store: %s", task_id, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)

    async def _deliver(self, event: Event, *, terminal: bool) -> None:
        """Deliver one event until acknowledged; raises Given when the worker must stop."""
        body = event.encoded()
        settings = self.sender.settings
        metrics = self.sender.metrics
        first = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            await self._check_current()  # still ours? deleted or replaced meanwhile?
            outcome = await self.sender.attempt(self.config, event.seq, body)
            metrics.attempts.labels(outcome.result).inc()
            if outcome.ok:
                break
            delay = backoff(settings, attempts, outcome.retry_after)
            spent = time.monotonic() - first + delay
            if not outcome.retry:
                await self._fail(event.seq, outcome)
            if attempts >= settings.max_attempts or spent > settings.max_retry_time:
                exhausted = Outcome(
                    outcome.result,
                    reason="RETRIES_EXHAUSTED",
                    message=f"{attempts} attempts over {time.monotonic() - first:.1f} s; "
                    f"the last: {outcome.message}",
                    http_status=outcome.http_status,
                )
                await self._fail(event.seq, exhausted)
            await asyncio.sleep(delay)
        metrics.deliveries.labels("acknowledged").inc()
        cursor = Cursor(event.seq)
        if terminal:
            cursor.state = DONE
        await self._advance(cursor)
        if terminal:
            await self.state.forget(self.config.task_id, self.store.finished_ttl)
            raise Given("done")

    async def _check_current(self) -> None:
        """Before an attempt: stop if the config was deleted or the claim lost (a replica
        cut off from Redis sends nothing once another may have taken over), reload it if it
        was replaced."""
        version = await self.state.current(self.config.task_id, self.config.id)
        if version == GONE:
            raise Given("deleted")
        if version == LOST:
            raise Given("lost")
        if self.version and version != self.version:
            await self._reload()
        else:
            self.version = version

    async def _reload(self) -> None:
        found = await self.state.get(self.config.task_id, self.config.id)
        if found is None:
            raise Given("deleted")
        self.config = found[0]
        self.version = await self.state.current(self.config.task_id, self.config.id)
        if self.version < 0:
            raise Given("deleted or lost")

    async def _advance(self, cursor: Cursor) -> None:
        self.cursor = cursor
        version = await self.state.advance(self.config, cursor)
        if version == GONE:
            raise Given("deleted")
        if version == LOST:
            raise Given("lost")
        if self.version and version != self.version:
            await self._reload()
        self.version = version

    async def _fail(self, event_id: int, outcome: Outcome) -> None:
        failure = Failure(
            outcome.reason, outcome.message, event_id, timestamp(time.time()), outcome.http_status
        )
        self.sender.metrics.deliveries.labels("failed").inc()
        self.sender.metrics.failed.labels(outcome.reason).inc()
        log.warning(
            "push config %s of task %s is failing: %s (%s, event %d, webhook %s)",
            self.config.id,
            self.config.task_id,
            outcome.message,
            outcome.reason,
            event_id,
            where(self.config.url),
        )
        cursor = Cursor(self.cursor.acked, self.cursor.snapshot, FAILING, failure)
        await self._advance(cursor)
        raise Given("failing")


def _terminal(body: dict[str, Any]) -> bool:
    update = body.get("statusUpdate")
    if update is not None:
        return bool(update["status"]["state"] in TERMINAL)
    task = body.get("task")
    return task is not None and task["status"]["state"] in TERMINAL
