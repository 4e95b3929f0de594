"""The GC pacer: automatic collection off while pacing, collections in idle gaps, a backstop, restored after."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from mockvapi.engine.gcpace import GcPacer, pace, release
from mockvapi.library import resolve
from mockvapi.testing import MockVapi


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic GC frees it


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _cyclic_garbage() -> weakref.ref[_Node]:
    node = _Node()
    ref = weakref.ref(node)
    del node
    return ref


@pytest.fixture
def gc_on() -> Iterator[None]:
    """The automatic GC on for the test, as it was afterwards."""
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("gc_on")
def test_pacing_turns_the_automatic_gc_off_and_the_last_release_restores_it(loop: asyncio.AbstractEventLoop) -> None:
    first, second = pace(loop), pace(loop)
    assert not gc.isenabled()
    release(first)
    release(first)  # twice is once
    assert not gc.isenabled()
    release(second)
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_due_generation_is_collected_in_an_idle_gap(loop: asyncio.AbstractEventLoop) -> None:
    pacer = GcPacer(loop, young_threshold=1, backstop=10**9, young_backstop=10**9)
    gc.disable()
    try:
        ref = _cyclic_garbage()
        assert pacer.due() and pacer.gap() == float("inf")  # nothing scheduled: idle
        pacer._tick()
        assert ref() is None and sum(pacer.collections) == 1 and pacer.forced == 0
    finally:
        pacer.stop()
        gc.enable()


class _Busy(GcPacer):
    def gap(self) -> float:
        return 0.0  # the loop always has something ready


def test_a_busy_loop_postpones_collection_until_the_backstop(loop: asyncio.AbstractEventLoop) -> None:
    gc.collect()
    gc.disable()
    try:
        pacer = _Busy(loop, young_threshold=10**9, backstop=2, young_backstop=2)
        ref = _cyclic_garbage()
        pacer._tick()
        assert ref() is not None and pacer.collections == [0, 0, 0]  # nothing due yet
        pacer.thresholds = (1, 10**9, 10**9)
        pacer._tick()  # due with no gap, but twice past its threshold: the backstop collects anyway
        assert pacer.forced == sum(pacer.collections) == 1 and ref() is None
    finally:
        pacer.stop()
        gc.enable()


def test_the_pacer_ticks_on_its_loop_until_stopped(loop: asyncio.AbstractEventLoop) -> None:
    pacer = GcPacer(loop, every=0.0)
    pacer.start()
    assert "running=True" in repr(pacer)
    loop.run_until_complete(asyncio.sleep(0))
    pacer.stop()
    assert repr(pacer).startswith("GcPacer(collections=") and "running=False" in repr(pacer)


class _ShortGaps(GcPacer):
    def gap(self) -> float:
        return 0.003  # long enough for a young collection, never for the (slow) full one


def test_a_full_collection_waiting_for_a_long_gap_does_not_hold_back_the_young_ones(
    loop: asyncio.AbstractEventLoop,
) -> None:
    gc.collect()
    gc.collect(1)  # one middle collection since the last full one: the full one is due at threshold 1
    gc.disable()
    try:
        pacer = _ShortGaps(loop, young_threshold=1, backstop=10**9, young_backstop=10**9)
        pacer.thresholds = (1, 10**9, 1)
        assert pacer.due()[0] == 2
        pacer._took[2] = 1.0  # and took a second last time: it waits for a gap of 1.5 s
        ref = _cyclic_garbage()
        pacer._tick()
        assert pacer.collections == [1, 0, 0] and ref() is None and pacer.forced == 0
    finally:
        pacer.stop()
        gc.enable()


def _old_cyclic_garbage() -> weakref.ref[_Node]:
    """Cyclic garbage in the oldest generation: alive through a middle collection (promoted), then dropped."""
    node = _Node()
    ref = weakref.ref(node)
    gc.collect(1)
    del node
    return ref


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_oldest_generation_is_due_by_time_when_counts_never_get_there(loop: asyncio.AbstractEventLoop) -> None:
    gc.collect()
    gc.disable()
    try:
        clock = _Clock()
        never = 10**9
        pacer = GcPacer(loop, young_threshold=never, backstop=never, young_backstop=never, full_every=5.0, clock=clock)
        ref = _old_cyclic_garbage()
        pacer._tick()
        assert ref() is not None and pacer.collections == [0, 0, 0]  # counts far from due, no time passed
        clock.now = 5.0
        pacer._tick()  # idle loop (nothing scheduled): the full collection runs in the gap
        assert ref() is None and pacer.collections == [0, 0, 1] and pacer.forced == 0
        pacer._tick()
        assert pacer.collections == [0, 0, 1]  # and is not due again until another full_every
    finally:
        pacer.stop()
        gc.enable()


def test_on_a_busy_loop_the_full_collection_is_forced_at_its_time_backstop(loop: asyncio.AbstractEventLoop) -> None:
    gc.collect()
    gc.disable()
    try:
        clock = _Clock()
        pacer = _Busy(loop, young_threshold=10**9, backstop=2, young_backstop=2, full_every=5.0, clock=clock)
        pacer.thresholds = (10**9, 10**9, 10**9)
        ref = _old_cyclic_garbage()
        clock.now = 9.9
        pacer._tick()  # due by time, but no gap, and not yet twice past
        assert ref() is not None and pacer.collections == [0, 0, 0]
        clock.now = 10.0
        pacer._tick()
        assert ref() is None and pacer.collections == [0, 0, 1] and pacer.forced == 1
    finally:
        pacer.stop()
        gc.enable()


@pytest.mark.usefixtures("gc_on")
def test_a_young_collection_runs_on_a_busy_loop_and_freezes_what_survives() -> None:
    # At hundreds of calls the loop never has an idle gap; a young batch is collected anyway, and its
    # survivors are frozen so that no later collection scans them again (the old generations stay empty).
    gc.collect()
    busy = asyncio.new_event_loop()
    pacer = pace(busy)
    pacer.stop()
    try:
        pacer.gap = lambda: 0.0  # type: ignore[method-assign]  # always something ready
        pacer.thresholds = (1, 10**9, 10**9)
        survivors = [[i] for i in range(50)]  # young, tracked, alive
        garbage = _cyclic_garbage()
        frozen_before = gc.get_freeze_count()
        pacer._tick()
        assert pacer.collections == [1, 0, 0] and garbage() is None
        assert gc.get_freeze_count() >= frozen_before + len(survivors)
        assert pacer._grown >= len(survivors)  # what the thaw's doubling rule counts, without a walk
        scanned = {id(o) for o in gc.get_objects()}  # every generation, not the frozen objects
        assert not any(id(s) in scanned for s in survivors)  # nothing is left to scan twice
    finally:
        release(pacer)
        busy.close()
    assert gc.get_freeze_count() == 0


def test_a_paced_full_collection_freezes_what_survives_and_thaws_once_the_process_grew(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # Frozen survivors are not scanned again (cheap full collections); a cycle that was alive when frozen
    # and dies later waits for the next thaw (thaw_every seconds on, once the process grew by 5 %).
    gc.collect()
    pacer = pace(loop)
    pacer.stop()
    idle = asyncio.new_event_loop()  # nothing scheduled on it: every tick finds an idle gap
    try:
        pacer.loop = idle
        clock = _Clock()
        pacer.clock, pacer._last_full, pacer._last_thaw = clock, 0.0, 0.0
        pacer.thresholds = (10**9, 10**9, 10**9)
        pacer.full_every, pacer.thaw_every = 5.0, 60.0
        pacer.every = 3600.0  # its next tick, which it schedules on the idle loop, leaves a long gap
        node = _Node()
        frozen_before = gc.get_freeze_count()
        clock.now = 5.0
        pacer._tick()
        assert pacer.collections == [0, 0, 1] and gc.get_freeze_count() > frozen_before
        ref = weakref.ref(node)
        del node  # cyclic garbage, but frozen: the next full collections leave it
        clock.now = 10.0
        pacer._tick()
        assert pacer.collections == [0, 0, 2] and ref() is not None and pacer.thaws == 0
        clock.now = 60.0
        pacer._grown = 0  # nothing allocated meanwhile
        pacer._tick()  # a minute on, but the process has not grown by 5 % since pacing began: no thaw
        assert pacer.collections == [0, 0, 3] and ref() is not None and pacer.thaws == 0
        pacer._grown = int(pacer._frozen_at_thaw * pacer.thaw_growth) + 1  # as if it had
        clock.now = 65.0
        pacer._tick()
        assert pacer.collections == [0, 0, 4] and ref() is None and pacer.thaws == 1
        assert abs(pacer._frozen_at_thaw - gc.get_freeze_count()) < 100  # what survived is frozen again
        clock.now = 130.0
        pacer._grown = 0
        pacer._tick()
        assert pacer.collections == [0, 0, 5] and pacer.thaws == 1  # not grown since that thaw
    finally:
        release(pacer)
        idle.close()
    assert gc.get_freeze_count() == 0


def test_an_uncounted_pacer_never_freezes(loop: asyncio.AbstractEventLoop) -> None:
    gc.collect()
    gc.disable()
    try:
        clock = _Clock()
        pacer = GcPacer(loop, young_threshold=10**9, full_every=5.0, clock=clock)
        pacer.thresholds = (10**9, 10**9, 10**9)
        clock.now = 5.0
        pacer._tick()
        assert pacer.collections == [0, 0, 1] and gc.get_freeze_count() == 0
    finally:
        pacer.stop()
        gc.enable()


async def test_ended_calls_leave_no_reference_cycles() -> None:
    # The premise of freezing what survives a full collection: what a call leaves when it ends is freed by
    # reference counting, so nothing frozen while it ran waits for a thaw. (A closed socket is the
    # exception: asyncio's transport refers to itself, a few objects per connection, which a thaw frees.)
    long_call, happy_path = resolve("long-call"), resolve("happy-path")  # loaded once, as a server does
    async with MockVapi(webhook=lambda body, headers: {}) as vapi:
        await vapi.play(happy_path)  # warm-up: module-level caches fill once
        gc.collect()
        gc.disable()
        try:
            for seed in range(3):
                await vapi.play(long_call, seed=seed)
                await vapi.play(happy_path, seed=seed)  # seed 0 twice: a second player with a derived id
            vapi.calls.clear()  # forgotten, as past max_calls
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            left = sorted({type(o).__qualname__ for o in gc.garbage})
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert left == []


@pytest.mark.usefixtures("gc_on")
def test_a_scenario_load_ending_while_pacing_leaves_the_gc_off_until_the_pacer_goes(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # One count for loading's pauses and the pacers: a pacer started while a scenario loads in another
    # thread must not find the automatic GC turned back on when that load ends.
    from mockvapi.scenario.gcpause import collections_paused

    paused = collections_paused()
    paused.__enter__()
    pacer = pace(loop)
    paused.__exit__(None, None, None)
    assert not gc.isenabled()
    release(pacer)
    assert gc.isenabled() and gc.get_freeze_count() == 0
