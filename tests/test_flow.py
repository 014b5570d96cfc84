"""The lazy per-connection signal of our HTTP protocol (http/flow.py), on a real event loop.
Flow control itself is exercised over real sockets by the stalled-reader tests
(test_limits.py, test_disconnects.py)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.http.flow import Signal

pytestmark = pytest.mark.anyio

PATIENCE = 10.0  # seconds, for a loaded machine


async def test_set_wakes_every_waiter_and_stays_set_until_cleared() -> None:
    signal = Signal()
    waiters = [asyncio.create_task(signal.wait()) for _ in range(3)]
    await asyncio.sleep(0)  # let them start waiting
    assert repr(signal) == "<Signal set=False waiters=3>"
    signal.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), PATIENCE) == [True] * 3
    assert signal.is_set()
    assert await signal.wait() is True
    signal.clear()
    assert not signal.is_set()
    assert repr(signal) == "<Signal set=False waiters=0>"


async def test_a_cancelled_wait_leaves_no_waiter_behind() -> None:
    signal = Signal()
    waiter = asyncio.create_task(signal.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert repr(signal) == "<Signal set=False waiters=0>"
    signal.set()  # wakes no one, raises nothing
    assert signal.is_set()
