"""Push notifications (A2A v1.0 sections 3.1.7-3.1.10, 4.3, 13.2): webhook configs per task,
and their delivery.

    settings.py    PushSettings: on/off, the SSRF guard's allowances, retries, signing
    configs.py     a config as stored and as each wire shows it; params validation
    guard.py       the SSRF guard: which webhook URLs and addresses may be called
    signing.py     the gateway's signing key: a JWT per request
    keys.py        the JWKS document (with Redis: every live replica's key)
    state.py       where configs and delivery cursors live: the contract, memory backend
    redis.py       the Redis backend: shared by replicas, one delivering lease per config
    delivery.py    one config's worker: follows the task's log, POSTs each event, retries
    deliveries.py  this process's workers: start, stop, take over lapsed leases
    methods.py     Create/Get/List/Delete and the inline config of SendMessage
    metrics.py     deliveries by outcome, attempts, latency, failing configs
    auto.py        builds the above for a gateway (the state backend follows the store's)
"""
