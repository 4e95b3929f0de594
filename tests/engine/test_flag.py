from __future__ import annotations

import asyncio

import pytest

from mockvapi.engine.flag import Flag


async def _wake_order(event: Flag | asyncio.Event) -> list[str]:
    """Who runs in which order when waiters, a task scheduled in between, and a set() interleave."""
    order: list[str] = []

    async def waiter(name: str) -> None:
        assert await event.wait() is True
        order.append(name)

    async def bystander() -> None:
        order.append("bystander")

    tasks = [asyncio.ensure_future(waiter(name)) for name in ("a", "b", "c")]
    await asyncio.sleep(0)
    tasks.append(asyncio.ensure_future(bystander()))
    event.set()
    tasks.append(asyncio.ensure_future(waiter("late")))  # already set: returns without waiting
    await asyncio.gather(*tasks)
    return order


async def test_a_flag_wakes_its_waiters_in_the_order_an_event_does() -> None:
    assert await _wake_order(Flag()) == await _wake_order(asyncio.Event())


async def test_set_clear_and_wait_behave_as_an_event() -> None:
    flag = Flag()
    assert not flag.is_set()
    assert repr(flag) == "Flag(clear)"
    waiting = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    assert repr(flag) == "Flag(clear, 1 waiting)"
    flag.set()
    flag.set()  # idempotent
    assert await waiting is True
    assert flag.is_set() and repr(flag) == "Flag(set)"
    assert await flag.wait() is True  # set: at once
    flag.clear()
    assert not flag.is_set()
    second = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    assert not second.done()
    flag.set()
    assert await second is True


async def test_a_cancelled_waiter_leaves_and_the_others_still_wake() -> None:
    flag = Flag()
    gone = asyncio.ensure_future(flag.wait())
    stays = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert repr(flag) == "Flag(clear, 1 waiting)"
    flag.set()
    assert await stays is True
    assert flag._waiters is None  # the list goes with its last waiter

