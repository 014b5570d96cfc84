"""The shared keep-alive timer (core/ticker.py), in-process on a real event loop."""

from __future__ import annotations

import asyncio

import pytest

from gateway.core.ticker import Ticker

pytestmark = pytest.mark.anyio

INTERVAL = 0.05
PATIENCE = 10.0  # seconds: far beyond 1.5 x INTERVAL, for a loaded machine


async def test_a_waiting_future_times_out_with_false() -> None:
    ticker = Ticker(INTERVAL)
    future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    ticker.add(future)
    assert await asyncio.wait_for(future, PATIENCE) is False


async def test_many_futures_share_the_ticker_and_all_time_out() -> None:
    ticker = Ticker(INTERVAL)
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[bool]] = [loop.create_future() for _ in range(100)]
    for future in futures:
        ticker.add(future)
    assert repr(ticker) == f"<Ticker interval={INTERVAL} waiting=100>"
    results = await asyncio.wait_for(asyncio.gather(*futures), PATIENCE)
    assert results == [False] * 100
    assert repr(ticker) == f"<Ticker interval={INTERVAL} waiting=0>"


async def test_a_discarded_future_is_never_resolved_and_a_done_one_is_left_alone() -> None:
    ticker = Ticker(INTERVAL)
    loop = asyncio.get_running_loop()
    discarded: asyncio.Future[bool] = loop.create_future()
    woken: asyncio.Future[bool] = loop.create_future()
    witness: asyncio.Future[bool] = loop.create_future()
    for future in (discarded, woken, witness):
        ticker.add(future)
    ticker.discard(discarded)
    woken.set_result(True)  # an append woke it first
    assert await asyncio.wait_for(witness, PATIENCE) is False
    assert not discarded.done()
    assert woken.result() is True


async def test_the_ticker_starts_again_after_it_went_quiet() -> None:
    ticker = Ticker(INTERVAL)
    loop = asyncio.get_running_loop()
    for _ in range(2):
        future: asyncio.Future[bool] = loop.create_future()
        ticker.add(future)
        assert await asyncio.wait_for(future, PATIENCE) is False
