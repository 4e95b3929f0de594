"""Garbage collection paced into the event loop's idle gaps while calls play on a real clock.

Measured (issue 17): at 500 real-time calls the process used about half a core, yet messages left up
to 55 ms late at p99, and the misses were the cyclic GC's pauses, not CPU: a collection runs whenever
an allocation crosses a threshold, often in the middle of a burst of due messages. With the GC off
they left 1.4 ms late. So while a real clock drives calls, the automatic GC is off and this pacer
collects instead, from a loop timer:

* objects alive when pacing starts (modules, schemas, scenarios, the server) are frozen
  (`gc.freeze`), so no collection scans them again;
* the young generation is collected in small batches (`young_threshold` net allocations, 2,000: a
  young collection's pause grows with what it scans, 4-35 ms for 20,000 objects at 500 calls, as each
  young message dict is traversed) as soon as a tick finds it due: at hundreds of calls the loop has
  no idle gap to wait for (the audio ticker is due every millisecond);
* what survives any collection is frozen (`gc.freeze`), so no object is scanned twice: a full
  collection over the survivors of 5 s at 500 calls took 50-240 ms and made every message due
  meanwhile late, and collecting the middle generation 15-28 ms. Frozen objects that become cyclic
  garbage later would never be freed, so now and then a full collection first unfreezes everything:
  once `thaw_every` seconds have passed and the tracked objects have grown by `thaw_growth` (5 %)
  since the last thaw (or since pacing began: what was frozen then, the whole process, is in every
  thaw; the growth is summed from each collection's counts, as counting the frozen objects walks them
  all: 30 ms for 3,000,000). A thaw scans the whole process (3,000,000 tracked objects: 212 ms), hence
  `thaw_every`; but cyclic garbage that outlived a young collection waits for one: with a thaw only
  once the process had doubled, a 10-minute soak of `mockvapi serve` grew 3.4 MB per 1,000 calls.
* an older generation is collected when CPython would have (its counts against `gc.get_threshold()`),
  but only in an idle gap: nothing ready to run, and the next timer further away than the last
  collection of that generation took (at least `min_gap`), or once it is `backstop` times past its
  threshold;
* the oldest generation is also due once `full_every` seconds have passed without a full collection,
  and forced at `backstop` times that: it is where a thaw happens (a pacer that does not own the
  process-wide freeze, see below, freezes nothing and relies on these full collections).

Pacing is process-wide and counted: the first user turns the automatic GC off, the last restores it
as it was (and unfreezes).
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from mockvapi.scenario.gcpause import automatic_off, automatic_restore

__all__ = ["GcPacer", "Timers", "pace", "release"]


class Timers(Protocol):
    """What the pacer needs of an event loop: an asyncio loop is one; `mockvapi.load` adapts gevent's hub.

    A loop without asyncio's `_ready` and `_scheduled` queues never reports an idle gap, so an older
    generation is collected as soon as it is due (what survives is frozen, so that stays small).
    """

    def call_later(self, delay: float, callback: Callable[[], object], /) -> Any: ...  # has .cancel()

    def time(self) -> float: ...

    def is_closed(self) -> bool: ...

_lock = threading.Lock()
_users = 0


class GcPacer:
    """Collects in one loop's idle gaps (see the module docstring). `start()` / `stop()`."""

    def __init__(
        self,
        loop: Timers | asyncio.AbstractEventLoop,
        *,
        every: float = 0.01,
        min_gap: float = 0.002,
        young_threshold: int = 2000,
        backstop: int = 2,
        young_backstop: int = 1,
        full_every: float = 5.0,
        thaw_every: float = 60.0,
        thaw_growth: float = 0.05,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.loop = loop
        self.full_every = full_every
        self.thaw_every = thaw_every
        self.thaw_growth = thaw_growth
        self.clock = clock if clock is not None else loop.time
        self._last_full = self._last_thaw = self.clock()
        self._frozen_at_thaw = gc.get_freeze_count()  # the process as pacing found it (pace() froze it)
        # Growth since the last thaw, from the collections' own counts: gc.get_freeze_count() walks
        # every frozen object (30 ms for 3,000,000), too slow to ask at every full collection.
        self._grown = 0
        self.thaws = 0
        self.every = every
        self.min_gap = min_gap
        self.thresholds = (young_threshold, *gc.get_threshold()[1:3])
        self.backstop = backstop
        self.young_backstop = young_backstop
        self.collections = [0, 0, 0]
        self.forced = 0
        self._took = [0.0, 0.0, 0.0]
        self._handle: Any = None  # the loop's timer handle (anything with .cancel())
        self.counted = False  # holds one of the process-wide users (see pace / release)

    def start(self) -> None:
        if self._handle is None:
            self._handle = self.loop.call_later(self.every, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def due(self) -> list[int]:
        """The generations whose counts passed their thresholds (the oldest also by time), oldest first."""
        counts = gc.get_count()
        return [g for g in (2, 1, 0) if counts[g] >= self.thresholds[g] or (g == 2 and self._full_overdue(1))]

    def _full_overdue(self, times: int) -> bool:
        return self.clock() - self._last_full >= self.full_every * times

    def gap(self) -> float:
        """Seconds until the loop has something to do (0 if something is ready now)."""
        loop: Any = self.loop
        if getattr(loop, "_ready", None):
            return 0.0
        scheduled = getattr(loop, "_scheduled", None)
        if not scheduled:
            return float("inf")
        return float(scheduled[0].when() - loop.time())

    def _tick(self) -> None:
        self._handle = None
        counts = gc.get_count()
        gap: float | None = None
        # The oldest due generation that may run now; one that must wait for a longer gap does not hold
        # back the younger ones (their collections are what brings an older one to its backstop).
        for generation in self.due():
            backstop = self.young_backstop if generation == 0 else self.backstop
            forced = counts[generation] >= self.thresholds[generation] * backstop or (
                generation == 2 and self._full_overdue(self.backstop)
            )
            if not forced:
                gap = self.gap() if gap is None else gap
                if gap < max(self.min_gap, self._took[generation] * 1.5):
                    continue
            thaw = (generation == 2 and self.counted and self.clock() - self._last_thaw >= self.thaw_every
                    and self._grown >= self._frozen_at_thaw * self.thaw_growth)
            if thaw:
                gc.unfreeze()  # now and then, everything is looked at again (see the module docstring)
            started = time.perf_counter()
            collected = gc.collect(generation)
            self._grown += counts[0] - collected  # net allocations since the last collection, less garbage
            if not thaw:
                self._took[generation] = time.perf_counter() - started
            self.collections[generation] += 1
            if self.counted:  # pace() owns the process-wide freeze, and release() undoes it
                gc.freeze()
            if generation == 2:
                self._last_full = self.clock()
                if thaw:
                    self._last_thaw = self._last_full
                    self._frozen_at_thaw = gc.get_freeze_count()  # once per thaw, which walks them all anyway
                    self._grown = 0
                    self.thaws += 1
            self.forced += forced
            break
        if not self.loop.is_closed():
            self._handle = self.loop.call_later(self.every, self._tick)

    def __repr__(self) -> str:
        young, middle, old = self.collections
        return f"GcPacer(collections={young}/{middle}/{old}, forced={self.forced}, running={self._handle is not None})"


def pace(loop: Timers | asyncio.AbstractEventLoop) -> GcPacer:
    """Start pacing collections on `loop`; the first user turns the automatic GC off (see module doc)."""
    global _users
    automatic_off()  # counted with scenario loading's pauses (scenario.gcpause)
    with _lock:
        if _users == 0:
            # No collection first: a full one over a big test process can take half a second.
            gc.freeze()
        _users += 1
    pacer = GcPacer(loop)
    pacer.counted = True
    pacer.start()
    return pacer


def release(pacer: GcPacer) -> None:
    """Stop `pacer`; the last user restores the automatic GC as it was."""
    global _users
    pacer.stop()
    with _lock:
        if not pacer.counted:
            return
        pacer.counted = False
        _users -= 1
        if _users == 0:
            gc.unfreeze()
    automatic_restore()
