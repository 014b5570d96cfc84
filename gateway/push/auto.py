"""Build the push sub-system for a gateway: the state backend follows the task store's."""

from __future__ import annotations

from gateway.ops.metrics import Metrics
from gateway.push.deliveries import Deliveries
from gateway.push.delivery import Sender
from gateway.push.guard import Guard
from gateway.push.keys import Keys
from gateway.push.methods import PushMethods
from gateway.push.metrics import PushMetrics
from gateway.push.redis import RedisPushState
from gateway.push.settings import PushSettings
from gateway.push.signing import Signer
from gateway.push.state import MemoryPushState, PushState
from gateway.stores.contract import Store
from gateway.stores.redis import RedisStore


def build(settings: PushSettings, store: Store, metrics: Metrics) -> PushMethods | None:
    """The push methods, or None when push notifications are off."""
    if not settings.enabled:
        return None
    state: PushState
    if isinstance(store, RedisStore):
        state = RedisPushState(
            store.redis, prefix=store.keys.prefix, replica=store.replica, lease=settings.lease
        )
    else:
        state = MemoryPushState()
    guard = Guard(allow_hosts=settings.allow_hosts, allow_http=settings.allow_http)
    signer = Signer(settings.signing_key_file) if settings.signing else None
    keys = None
    if signer is not None:
        shared = store if isinstance(store, RedisStore) else None
        keys = Keys(signer, shared.redis if shared else None, shared.keys.prefix if shared else "")
    sender = Sender(settings, PushMetrics(metrics), guard=guard, signer=signer)
    deliveries = Deliveries(store, state, sender, lease=settings.lease)
    return PushMethods(settings, state, deliveries, guard, keys)
