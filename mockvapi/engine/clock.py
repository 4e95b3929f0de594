"""Clocks: every wait in mockvapi goes through one.

``RealClock`` follows ``time.perf_counter`` (optionally sped up); ``VirtualClock`` only moves by jumps,
so a ten-minute call plays in milliseconds and the same scenario always produces the same timestamps.

Virtual time, as in trio's ``MockClock`` and ``looptime``:

* ``autojump=True``: sleepers queue up; whenever the event loop has nothing else ready to run, the clock
  jumps to the earliest sleeper and wakes it. Concurrent sleepers therefore wake in time order (a plain
  ``now = max(now, t)`` per sleeper would wake them in call order and stamp them with the wrong time).
  A loop waiting only on sockets counts as idle (as trio's ``autojump_threshold=0``): virtual time may
  jump while a request is in flight, so measure I/O latency with ``perf_counter``, not ``now()``.
* ``autojump=False``: sleepers wait until ``advance()`` / ``advance_to()`` moves time past them.
* A socket with something waiting (an answer arrived, a buffer to flush) is work ready to run too, but the
  loop only learns of it when it polls its selector, which a task taking jumps (``try_jump``) never lets it
  do. So ``try_jump`` asks the selector itself, at most every ``io_poll_interval`` real seconds, and
  declines while a socket waits: a call simulated in virtual time lets its webhooks' answers in as they
  come, instead of queueing every message of the call behind its first request (lever 126).

In both modes time never goes backwards and sleepers are woken one at a time, earliest first (equal
deadlines: first come, first served), each with ``now()`` equal to its own deadline; the clock lets woken
tasks run before waking the next one, so a task that sleeps again inside the window is also woken in order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Clock", "RealClock", "VirtualClock", "DEFAULT_EPOCH_MS"]

#: 2026-01-01T09:00:00Z: a fixed, readable start for virtual calls.
DEFAULT_EPOCH_MS = 1_767_258_000_000


class Clock(Protocol):
    """What the engine needs from time."""

    def now(self) -> float:
        """Seconds on this clock since it was created (starts at 0.0)."""
        ...

    def epoch_ms(self) -> int:
        """Wall-clock epoch milliseconds corresponding to ``now()``."""
        ...

    async def sleep_until(self, t: float) -> None:
        """Return once ``now() >= t`` (at once, after one yield, if it already is)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """``sleep_until(now() + seconds)``."""
        ...

    def real_seconds(self, seconds: float) -> float:
        """Real seconds to allow for an I/O timeout of ``seconds`` of clock time."""
        ...


class RealClock:
    """Real time, optionally sped up: ``speed=10`` makes a 10 s wait take 1 s.

    ``asyncio.sleep`` wakes up to about a millisecond late (selector timeouts are in whole milliseconds).
    Sped up, that is ``speed`` milliseconds of call time, so the last ``spin`` real seconds of each wait
    are spent yielding to the loop and re-checking ``perf_counter``: lateness drops from ~0.8 ms (p50) to a
    few microseconds, at the cost of a busy loop while any waiter is within ``spin`` of its deadline. By
    default a clock at speed 1 does not spin (a millisecond is well inside what real calls jitter, and
    with hundreds of calls some waiter is always spinning: the loop never sleeps, and the CPU it burns
    makes every call later); a sped-up clock spins 1.5 ms. Pass ``spin`` to choose.
    """

    def __init__(
        self, speed: float = 1.0, epoch_ms: int | None = None, *, spin: float | None = None
    ) -> None:
        if not speed > 0:
            raise ValueError(f"mockvapi: clock speed must be positive, got {speed!r}")
        if spin is None:
            spin = 0.0 if speed <= 1 else 0.0015
        if not 0 <= spin < float("inf"):
            raise ValueError(f"mockvapi: spin must be >= 0, got {spin!r}")
        self._speed = float(speed)
        self._spin = float(spin)
        self._start = time.perf_counter()
        self._epoch_ms = int(time.time() * 1000) if epoch_ms is None else int(epoch_ms)

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def spin(self) -> float:
        """Real seconds at the end of each wait spent yielding instead of sleeping (see the class doc)."""
        return self._spin

    def now(self) -> float:
        return (time.perf_counter() - self._start) * self._speed

    def epoch_ms(self) -> int:
        return self._epoch_ms + round(self.now() * 1000)

    async def sleep_until(self, t: float) -> None:
        deadline = self._start + t / self._speed  # in perf_counter seconds
        remaining = deadline - time.perf_counter()
        if remaining > self._spin:
            await asyncio.sleep(remaining - self._spin)
        # Finish by yielding until the deadline; also covers asyncio waking a timer slightly early.
        while time.perf_counter() < deadline:
            await asyncio.sleep(0)
        if remaining <= 0:
            await asyncio.sleep(0)  # always yield once, like the virtual clock

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self.now() + seconds)

    def real_seconds(self, seconds: float) -> float:
        return seconds / self._speed

    def __repr__(self) -> str:
        return f"RealClock(now={self.now():.3f}s, speed={self._speed:g})"


@dataclass(order=True)
class _Sleeper:
    t: float
    seq: int
    future: asyncio.Future[None] = field(compare=False)
    # Registered by `wake_at`: its owner may resolve the future itself; counted off `_live` when dropped.
    external: bool = field(default=False, compare=False)


def _loop_busy(loop: asyncio.AbstractEventLoop) -> bool:
    """True if the loop has callbacks ready to run (other than the caller).

    Peeks at CPython's ``BaseEventLoop._ready``; loops without it count as idle, so virtual time still
    advances there, only with less careful ordering across tasks.
    """
    ready = getattr(loop, "_ready", None)
    # Other clocks' drivers (and our own) are not work: counting them would make two clocks, or a
    # driver and advance(), each wait for the other to go idle forever.
    if not ready:
        return False
    return any(not _is_driver(handle) for handle in ready)


def _resolve_pending(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _is_driver(handle: object) -> bool:
    callback = getattr(handle, "_callback", None)
    return getattr(callback, "__func__", None) is VirtualClock._drive


def _io_probe(loop: asyncio.AbstractEventLoop) -> Callable[[], bool]:
    """A function telling, without waiting, whether a socket of `loop` has something to handle.

    Asks the loop's selector (registrations are level-triggered, so asking consumes nothing): epoll's own
    ``poll(0)`` where it is one (a syscall), else ``select(0)``. A loop with no selector to ask (uvloop,
    Windows' proactor) always says no, and virtual time there jumps past waiting sockets as before.
    """
    selector = getattr(loop, "_selector", None)
    if not isinstance(selector, selectors.BaseSelector):
        return lambda: False
    mapping = selector.get_map()
    raw = getattr(selector, "_selector", None) if isinstance(selector, selectors.EpollSelector) else None
    poll: Callable[[], object] = (lambda: raw.poll(0)) if raw is not None else (lambda: selector.select(0))
    # The loop's own wake-up pipe is always registered: with nothing else, no socket can be waiting.
    return lambda: len(mapping) > 1 and bool(poll())


class VirtualClock:
    """Time that moves only by jumps (see the module docstring)."""

    #: Real seconds between two of ``try_jump``'s questions to the loop's selector (module docstring): a
    #: syscall every 50 µs of simulation is ~2 % of it, and an answer waits at most that long to be read.
    io_poll_interval = 50e-6

    def __init__(
        self, epoch_ms: int = DEFAULT_EPOCH_MS, autojump: bool = True, io_speed: float = 1.0
    ) -> None:
        if not io_speed > 0:
            raise ValueError(f"mockvapi: io_speed must be positive, got {io_speed!r}")
        self._epoch_ms = int(epoch_ms)
        self._autojump = autojump
        self._io_speed = float(io_speed)
        self._now = 0.0
        self._heap: list[_Sleeper] = []
        self._live = 0  # sleepers in the heap whose future is not done
        self._seq = itertools.count()
        self._driver_loop: asyncio.AbstractEventLoop | None = None
        self._polled_at = -math.inf  # perf_counter of try_jump's last question to the selector
        self._io_declined = False  # see `declined_for_io`
        self._probe: tuple[asyncio.AbstractEventLoop, Callable[[], bool]] | None = None

    # -- reading -------------------------------------------------------------------------------------

    def now(self) -> float:
        return self._now

    def epoch_ms(self) -> int:
        return self._epoch_ms + round(self._now * 1000)

    def real_seconds(self, seconds: float) -> float:
        return seconds / self._io_speed

    @property
    def sleepers(self) -> int:
        """How many tasks (or `wake_at` futures) are waiting on this clock. Counted, not the running tally:
        a `wake_at` future its owner resolved is only counted off the tally once the clock reaches it."""
        return sum(1 for sleeper in self._heap if not sleeper.future.done())

    @property
    def next_wakeup(self) -> float | None:
        """The earliest deadline anyone is waiting for, or None."""
        self._prune()
        return self._heap[0].t if self._heap else None

    @property
    def autojump(self) -> bool:
        return self._autojump

    @autojump.setter
    def autojump(self, value: bool) -> None:
        self._autojump = value
        if value:
            self._prune()
            if self._heap:
                self._ensure_driver(self._heap[0].future.get_loop())

    # -- waiting -------------------------------------------------------------------------------------

    async def sleep_until(self, t: float) -> None:
        if t != t:  # NaN would corrupt the heap order
            raise ValueError("mockvapi: cannot sleep until NaN")
        if t <= self._now:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        sleeper = _Sleeper(t, next(self._seq), loop.create_future())
        heapq.heappush(self._heap, sleeper)
        self._live += 1
        if self._autojump:
            self._ensure_driver(loop)
        try:
            await sleeper.future
        finally:
            if not sleeper.future.done():
                # Cancelled while waiting: our own future is still pending, so drop it here.
                sleeper.future.cancel()
            if sleeper.future.cancelled():
                self._forget_cancelled()

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + seconds)

    def wake_at(self, t: float, future: asyncio.Future[None]) -> None:
        """Resolve `future` at ``t``, as a sleeper until ``t`` is woken (in order, by the driver or
        ``advance``); at once, in the next loop turn, if ``t`` has passed. Its owner may resolve or cancel it
        first (a wait a control ends early): the clock then skips it. For a waiter that must wake on either
        of two things: without it, that took a task running ``sleep_until`` and a future the task's end
        resolves, three loop turns per wake-up instead of one (lever 127)."""
        if t != t:
            raise ValueError("mockvapi: cannot sleep until NaN")
        loop = future.get_loop()
        if t <= self._now:
            loop.call_soon(_resolve_pending, future)
            return
        heapq.heappush(self._heap, _Sleeper(t, next(self._seq), future, True))
        self._live += 1
        if self._autojump:
            self._ensure_driver(loop)

    def try_jump(self, t: float) -> bool:
        """Jump straight to ``t`` if a sleeper until ``t`` would be the next one woken: autojump is on, the
        loop has nothing else ready to run (no callback, and no socket with something waiting, asked at most
        every ``io_poll_interval``), and no one waits for a time ``<= t`` (equal deadlines: they came first).
        Returns whether it jumped; if not, sleep as usual.

        For a caller that has just yielded once (so others had their turn): it then takes the wake-up the
        driver would give it, without queueing a sleeper and waiting a loop turn or two for the driver. The
        times, and the order of wake-ups, are the same either way.
        """
        if not self._autojump or t != t:
            return False
        # `_loop_busy` and `_prune`, inline: asked once per event of every call on the clock (lever 47).
        loop = asyncio.get_running_loop()
        ready = getattr(loop, "_ready", None)
        if ready and any(not _is_driver(handle) for handle in ready):
            return False
        real = time.perf_counter()
        if real - self._polled_at >= self.io_poll_interval:
            self._polled_at = real
            probe = self._probe
            if probe is None or probe[0] is not loop:
                probe = self._probe = (loop, _io_probe(loop))
            if probe[1]():
                self._io_declined = True
                return False
        heap = self._heap
        while heap and heap[0].future.done():
            if heapq.heappop(heap).external:
                self._live -= 1
        if heap and heap[0].t <= t:
            return False
        if t > self._now:
            self._now = t
        self._io_declined = False
        return True

    @property
    def declined_for_io(self) -> bool:
        """True from a ``try_jump`` declined for a waiting socket until the next jump: the loop is then busy
        for a few turns with what the socket woke (an answer's reader, the next request), and a caller may
        yield for those turns before it falls back to sleeping on the clock."""
        return self._io_declined

    # -- moving time by hand -------------------------------------------------------------------------

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking every sleeper on the way in order."""
        if seconds < 0:
            raise ValueError("mockvapi: time can't go backwards")
        await self.advance_to(self._now + seconds)

    async def advance_to(self, t: float) -> None:
        """Move time forward to ``t``, waking every sleeper with a deadline ``<= t`` in order."""
        if t < self._now:
            raise ValueError("mockvapi: time can't go backwards")
        loop = asyncio.get_running_loop()
        while True:
            await self._settle(loop)
            sleeper = self._pop_due(t)
            if sleeper is None:
                break
            self._wake(sleeper)
        self._now = max(self._now, t)

    # -- internals -----------------------------------------------------------------------------------

    @staticmethod
    async def _settle(loop: asyncio.AbstractEventLoop) -> None:
        # Yield until nothing else is ready, so woken tasks get to run (and queue new sleeps) first.
        await asyncio.sleep(0)
        while _loop_busy(loop):
            await asyncio.sleep(0)

    def _prune(self) -> None:
        while self._heap and self._heap[0].future.done():
            if heapq.heappop(self._heap).external:
                self._live -= 1  # resolved by its owner (see `wake_at`); `sleep_until` counts its own off

    def _pop_due(self, t: float) -> _Sleeper | None:
        self._prune()
        if self._heap and self._heap[0].t <= t:
            return heapq.heappop(self._heap)
        return None

    def _wake(self, sleeper: _Sleeper) -> None:
        self._now = max(self._now, sleeper.t)
        self._live -= 1
        sleeper.future.set_result(None)

    def _forget_cancelled(self) -> None:
        self._live -= 1
        # Cancelled entries are skipped lazily; rebuild once they are most of the heap to bound memory.
        dead = len(self._heap) - self._live
        if dead > 64 and dead > self._live:
            self._live -= sum(1 for s in self._heap if s.external and s.future.done())
            self._heap = [s for s in self._heap if not s.future.done()]
            heapq.heapify(self._heap)

    def _ensure_driver(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._driver_loop is not loop:  # not yet driving, or left behind on an older (closed) loop
            self._driver_loop = loop
            loop.call_soon(self._drive, loop)

    def _drive(self, loop: asyncio.AbstractEventLoop) -> None:
        """Autojump: when the loop is idle, jump to the earliest sleeper and wake it."""
        if self._driver_loop is not loop:
            return  # superseded (the clock moved to another loop)
        if not self._autojump:
            self._driver_loop = None
            return
        self._prune()
        if not self._heap:
            # Nobody waits: stop (the next sleeper starts a driver again). Checked before idleness, or a
            # finished clock's driver would go on re-queueing itself for as long as the loop has other work.
            self._driver_loop = None
            return
        if not _loop_busy(loop):
            self._wake(heapq.heappop(self._heap))
        loop.call_soon(self._drive, loop)

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now:.3f}s, autojump={self._autojump}, sleepers={self.sleepers})"
