from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from mockvapi.engine.clock import DEFAULT_EPOCH_MS, Clock, RealClock, VirtualClock, _is_driver


async def _record(clock: Clock, name: str, t: float, log: list[tuple[str, float]]) -> None:
    await clock.sleep_until(t)
    log.append((name, clock.now()))


# -- VirtualClock, autojump -----------------------------------------------------------------------------


async def test_virtual_autojump_wakes_concurrent_sleepers_in_time_order() -> None:
    clock = VirtualClock()
    log: list[tuple[str, float]] = []
    await asyncio.gather(*(_record(clock, n, t, log) for n, t in [("c", 3.0), ("a", 1.0), ("b", 2.0)]))
    assert log == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert clock.now() == 3.0
    assert clock.sleepers == 0


async def test_virtual_autojump_interleaves_repeated_sleeps() -> None:
    clock = VirtualClock()
    log: list[tuple[str, float]] = []

    async def ticker(name: str, step: float, n: int) -> None:
        for _ in range(n):
            await clock.sleep(step)
            log.append((name, clock.now()))

    await asyncio.gather(ticker("slow", 1.5, 2), ticker("fast", 1.0, 3))
    # Equal deadlines wake first-come first-served: slow asked for 3.0 at 1.5, fast only at 2.0.
    assert log == [("fast", 1.0), ("slow", 1.5), ("fast", 2.0), ("slow", 3.0), ("fast", 3.0)]


async def test_virtual_autojump_lets_woken_tasks_run_before_jumping() -> None:
    # The consumer only learns of its next sleep through a queue: the clock must not jump past 1.5
    # (the producer's next deadline is 2.0) before the consumer has had its turn.
    clock = VirtualClock()
    log: list[tuple[str, float]] = []
    queue: asyncio.Queue[int] = asyncio.Queue()

    async def producer() -> None:
        for i in range(2):
            await clock.sleep(1.0)
            log.append(("put", clock.now()))
            await queue.put(i)

    async def consumer() -> None:
        for _ in range(2):
            await queue.get()
            await clock.sleep(0.5)
            log.append(("handled", clock.now()))

    await asyncio.gather(producer(), consumer())
    assert log == [("put", 1.0), ("handled", 1.5), ("put", 2.0), ("handled", 2.5)]


async def test_virtual_try_jump_takes_the_wakeup_the_driver_would_give() -> None:
    clock = VirtualClock()
    await asyncio.sleep(0)
    assert clock.try_jump(5.0) is True
    assert clock.now() == 5.0
    assert clock.try_jump(4.0) is True  # a time already passed: nothing to wait for, time stays
    assert clock.now() == 5.0


async def test_virtual_try_jump_refuses_while_someone_waits_for_an_earlier_or_equal_time() -> None:
    clock = VirtualClock()
    log: list[tuple[str, float]] = []
    other = asyncio.ensure_future(_record(clock, "other", 3.0, log))
    await asyncio.sleep(0)  # the other task queues its sleeper
    assert clock.try_jump(3.0) is False  # equal deadline: it came first
    assert clock.try_jump(4.0) is False
    assert clock.now() == 0.0
    assert clock.try_jump(2.5) is True
    await other
    assert log == [("other", 3.0)]


async def test_virtual_try_jump_refuses_while_the_loop_has_other_work_or_autojump_is_off() -> None:
    clock = VirtualClock()
    asyncio.get_running_loop().call_soon(lambda: None)
    assert clock.try_jump(1.0) is False
    await asyncio.sleep(0)
    manual = VirtualClock(autojump=False)
    assert manual.try_jump(1.0) is False
    assert clock.try_jump(float("nan")) is False
    assert (clock.now(), manual.now()) == (0.0, 0.0)


@dataclass
class WatchedSocket:
    """A socketpair whose first end the running loop reads (every byte into `read`); send through `peer`."""

    peer: socket.socket
    read: list[bytes]


@pytest.fixture
async def watched() -> AsyncIterator[WatchedSocket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    loop = asyncio.get_running_loop()
    read: list[bytes] = []
    loop.add_reader(a.fileno(), lambda: read.append(a.recv(16)))
    yield WatchedSocket(b, read)
    loop.remove_reader(a.fileno())
    a.close()
    b.close()


async def test_virtual_try_jump_refuses_while_a_socket_has_something_waiting(watched: WatchedSocket) -> None:
    # A socket the loop has not read yet is work ready to run: jumping past it would keep a webhook's answer
    # unread for as long as a call goes on jumping (the loop only looks at sockets between tasks' turns).
    clock = VirtualClock()
    clock.io_poll_interval = 0  # ask at every jump
    assert clock.try_jump(1.0) is True
    watched.peer.send(b"answer")
    assert clock.try_jump(2.0) is False
    assert clock.declined_for_io and clock.now() == 1.0
    while not watched.read:
        await asyncio.sleep(0)  # the loop reads it
    assert watched.read == [b"answer"]
    assert clock.try_jump(2.0) is True and clock.now() == 2.0
    assert not clock.declined_for_io


async def test_virtual_try_jump_asks_the_selector_at_most_every_io_poll_interval(watched: WatchedSocket) -> None:
    clock = VirtualClock()
    clock.io_poll_interval = 3600.0
    assert clock.try_jump(1.0) is True  # asked: nothing waiting
    watched.peer.send(b"answer")
    assert clock.try_jump(2.0) is True  # not asked again within the interval
    assert not clock.declined_for_io


async def test_virtual_wake_at_resolves_a_future_in_order_with_the_sleepers() -> None:
    clock = VirtualClock()
    loop = asyncio.get_running_loop()
    log: list[tuple[str, float]] = []
    late, early = loop.create_future(), loop.create_future()
    late.add_done_callback(lambda _: log.append(("late", clock.now())))
    early.add_done_callback(lambda _: log.append(("early", clock.now())))
    clock.wake_at(3.0, late)
    clock.wake_at(1.0, early)
    assert clock.sleepers == 2
    await asyncio.gather(_record(clock, "slept", 2.0, log), late)
    assert log == [("early", 1.0), ("slept", 2.0), ("late", 3.0)]
    assert clock.sleepers == 0


async def test_virtual_wake_at_a_future_its_owner_resolves_first_is_skipped() -> None:
    clock = VirtualClock()
    loop = asyncio.get_running_loop()
    mine, cancelled = loop.create_future(), loop.create_future()
    clock.wake_at(5.0, mine)
    clock.wake_at(6.0, cancelled)
    mine.set_result(None)  # a control ended the wait early
    cancelled.cancel()
    assert clock.sleepers == 0  # at once, though the clock drops them only when it reaches them
    log: list[tuple[str, float]] = []
    await _record(clock, "next", 7.0, log)
    assert log == [("next", 7.0)]  # time went straight on; neither was woken (set twice would raise)
    assert clock.sleepers == 0
    with pytest.raises(ValueError, match="NaN"):
        clock.wake_at(float("nan"), loop.create_future())


async def test_virtual_wake_at_a_time_passed_resolves_in_the_next_turn() -> None:
    clock = VirtualClock()
    await clock.advance(2.0)
    future = asyncio.get_running_loop().create_future()
    clock.wake_at(1.0, future)
    assert not future.done() and clock.sleepers == 0
    await asyncio.sleep(0)
    assert future.done() and clock.now() == 2.0


async def test_virtual_manual_advance_wakes_wake_at_futures() -> None:
    clock = VirtualClock(autojump=False)
    future = asyncio.get_running_loop().create_future()
    clock.wake_at(1.5, future)
    await clock.advance(1.0)
    assert not future.done()
    await clock.advance(1.0)
    assert future.done() and clock.sleepers == 0


async def test_virtual_driver_stops_once_nobody_waits_even_while_the_loop_has_other_work() -> None:
    # A finished clock's driver used to re-queue itself on every loop turn for as long as anything else
    # ran: every clock a process had made (one per test, per played call) kept costing a turn each.
    clock = VirtualClock()
    await clock.sleep(1.0)
    stop = asyncio.Event()

    async def busy() -> None:
        while not stop.is_set():
            await asyncio.sleep(0)

    worker = asyncio.ensure_future(busy())
    for _ in range(5):
        await asyncio.sleep(0)
    ready = list(getattr(asyncio.get_running_loop(), "_ready", []))
    stop.set()
    await worker
    assert not [handle for handle in ready if _is_driver(handle)]
    await clock.sleep(1.0)  # a new sleeper starts a driver again
    assert clock.now() == 2.0


async def test_virtual_autojump_long_call_plays_instantly() -> None:
    clock = VirtualClock()
    await clock.sleep(600.0)
    assert clock.now() == 600.0
    assert clock.epoch_ms() == DEFAULT_EPOCH_MS + 600_000


async def test_virtual_sleep_into_the_past_returns_without_moving_time() -> None:
    clock = VirtualClock()
    await clock.sleep_until(5.0)
    await clock.sleep_until(2.0)
    await clock.sleep(0)
    assert clock.now() == 5.0


async def test_virtual_sleep_until_nan_raises() -> None:
    with pytest.raises(ValueError, match="NaN"):
        await VirtualClock().sleep_until(float("nan"))


async def test_virtual_autojump_cancelled_sleeper_is_removed() -> None:
    clock = VirtualClock()
    log: list[tuple[str, float]] = []
    doomed = asyncio.create_task(_record(clock, "doomed", 1.0, log))
    survivor = asyncio.create_task(_record(clock, "survivor", 2.0, log))
    await asyncio.sleep(0)  # both registered; the clock has not jumped yet (this task is still busy)
    assert clock.sleepers == 2
    doomed.cancel()
    await survivor
    assert doomed.cancelled()
    assert log == [("survivor", 2.0)]
    assert clock.sleepers == 0


async def test_virtual_autojump_can_be_switched_on_later() -> None:
    clock = VirtualClock(autojump=False)
    log: list[tuple[str, float]] = []
    task = asyncio.create_task(_record(clock, "x", 4.0, log))
    await asyncio.sleep(0)
    assert clock.sleepers == 1
    clock.autojump = True
    await task
    assert log == [("x", 4.0)]


# -- VirtualClock, manual ---------------------------------------------------------------------------------


async def test_virtual_manual_sleepers_wait_for_advance() -> None:
    clock = VirtualClock(autojump=False)
    log: list[tuple[str, float]] = []
    tasks = [asyncio.create_task(_record(clock, n, t, log)) for n, t in [("c", 3.0), ("a", 1.0), ("b", 2.0)]]
    await asyncio.sleep(0)
    assert clock.sleepers == 3
    assert [clock.next_wakeup] == [1.0]  # (a list, so mypy does not narrow the property for later)
    assert log == []

    await clock.advance(2.0)
    assert log == [("a", 1.0), ("b", 2.0)]
    assert clock.now() == 2.0
    assert clock.sleepers == 1

    await clock.advance_to(10.0)
    assert log[-1] == ("c", 3.0)
    assert clock.now() == 10.0
    assert clock.sleepers == 0
    assert clock.next_wakeup is None
    await asyncio.gather(*tasks)


async def test_virtual_manual_advance_wakes_sleeps_scheduled_inside_the_window() -> None:
    clock = VirtualClock(autojump=False)
    log: list[tuple[str, float]] = []

    async def ticker(name: str, step: float) -> None:
        while True:
            await clock.sleep(step)
            log.append((name, clock.now()))

    tasks = [asyncio.create_task(ticker("a", 1.0)), asyncio.create_task(ticker("b", 1.5))]
    await asyncio.sleep(0)
    await clock.advance(3.0)
    assert log == [("a", 1.0), ("b", 1.5), ("a", 2.0), ("b", 3.0), ("a", 3.0)]
    assert clock.sleepers == 2
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert clock.sleepers == 0


async def test_virtual_time_cannot_go_backwards() -> None:
    clock = VirtualClock(autojump=False)
    await clock.advance(5.0)
    with pytest.raises(ValueError, match="time can't go backwards"):
        await clock.advance(-1)
    with pytest.raises(ValueError, match="time can't go backwards"):
        await clock.advance_to(4.0)
    assert clock.now() == 5.0


async def test_virtual_manual_cancelled_sleeper_is_removed() -> None:
    clock = VirtualClock(autojump=False)
    log: list[tuple[str, float]] = []
    doomed = asyncio.create_task(_record(clock, "doomed", 1.0, log))
    other = asyncio.create_task(_record(clock, "other", 2.0, log))
    await asyncio.sleep(0)
    doomed.cancel()
    await asyncio.gather(doomed, return_exceptions=True)
    assert clock.sleepers == 1
    assert clock.next_wakeup == 2.0
    await clock.advance(5.0)
    await other
    assert log == [("other", 2.0)]


async def test_virtual_many_cancellations_do_not_pile_up() -> None:
    clock = VirtualClock(autojump=False)
    tasks = [asyncio.create_task(clock.sleep(1.0 + i)) for i in range(500)]
    await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert clock.sleepers == 0
    assert len(clock._heap) <= 128  # compacted, not 500 dead entries


def test_virtual_clock_reads_and_repr() -> None:
    clock = VirtualClock(epoch_ms=1_000, io_speed=4.0)
    assert clock.now() == 0.0
    assert clock.epoch_ms() == 1_000
    assert clock.real_seconds(10.0) == 2.5
    assert repr(clock) == "VirtualClock(now=0.000s, autojump=True, sleepers=0)"
    with pytest.raises(ValueError):
        VirtualClock(io_speed=0)


# -- RealClock ---------------------------------------------------------------------------------------------


async def test_real_clock_sped_up_wakes_every_sleeper_after_its_deadline() -> None:
    clock = RealClock(speed=1000)
    log: list[tuple[str, float]] = []
    deadlines = {"c": 60.0, "a": 20.0, "b": 40.0}  # clock seconds: 20-60 ms of real time
    await asyncio.gather(*(_record(clock, n, t, log) for n, t in deadlines.items()))
    assert sorted(name for name, _ in log) == ["a", "b", "c"]
    for name, woke in log:
        assert woke >= deadlines[name] - 1e-6
    stamps = [woke for _, woke in log]
    assert stamps == sorted(stamps)  # now() is monotone


async def test_real_clock_now_is_monotone_and_sleep_moves_it() -> None:
    clock = RealClock(speed=1000)
    readings = [clock.now()]
    for _ in range(5):
        await clock.sleep(1.0)
        readings.append(clock.now())
    assert readings == sorted(readings)
    assert readings[-1] >= 5.0 - 1e-6
    await clock.sleep_until(0.0)  # in the past: returns


async def test_real_clock_without_spin_still_reaches_deadline() -> None:
    clock = RealClock(speed=1000, spin=0)
    await clock.sleep(5.0)
    assert clock.now() >= 5.0 - 1e-6


def test_real_clock_reads_and_repr() -> None:
    clock = RealClock(speed=10, epoch_ms=5_000)
    assert clock.speed == 10
    assert clock.real_seconds(10.0) == 1.0
    assert clock.epoch_ms() >= 5_000
    assert repr(clock).startswith("RealClock(now=")
    assert "speed=10)" in repr(clock)
    with pytest.raises(ValueError):
        RealClock(speed=0)
    with pytest.raises(ValueError):
        RealClock(spin=-1)
    with pytest.raises(ValueError):
        RealClock(spin=float("nan"))


def test_real_clock_spins_only_when_sped_up_unless_told() -> None:
    # At speed 1 a millisecond of timer lateness is a millisecond of call time; sped up it is `speed` ms.
    assert RealClock().spin == 0.0
    assert RealClock(speed=0.5).spin == 0.0
    assert RealClock(speed=10).spin == 0.0015
    assert RealClock(spin=0.002).spin == 0.002
    assert RealClock(speed=10, spin=0).spin == 0.0
