"""The GC pacer (`engine.gcpace`) for a gevent process: one per Locust worker while its users play.

Measured at 400 concurrent real-time calls in one worker (`bench/load_worker.py`): deliveries left
0.65 ms late at p50 but 107 ms at p99, and the worker's collections of the middle and oldest
generations took 17 and 565 ms (median) under the automatic GC, which scans everything the calls
keep. The asyncio player paces its collections (young ones in small batches, survivors frozen so
nothing is scanned twice); the gevent player did not. Here the same pacer ticks from greenlets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

# gevent ships no type information; its objects are Any here.
import gevent  # type: ignore[import-untyped]

from mockvapi.engine.gcpace import GcPacer, pace, release

__all__ = ["GeventTimers", "PacingShare"]


class GeventTimers:
    """`engine.gcpace.Timers` on gevent's hub: each tick runs in a greenlet of its own (a collection may
    run finalizers, which must be free to switch greenlets, as the hub's own callbacks are not)."""

    def call_later(self, delay: float, callback: Callable[[], object], /) -> Any:
        return _Later(gevent.spawn_later(delay, callback))

    def time(self) -> float:
        return time.monotonic()  # gevent's sleeps and timers run on the monotonic clock

    def is_closed(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "GeventTimers()"


class _Later:
    def __init__(self, greenlet: Any) -> None:
        self.greenlet = greenlet

    def cancel(self) -> None:
        self.greenlet.kill(block=False)


class PacingShare:
    """One pacer for however many holders: the first `acquire()` starts it, the last `release()` stops it
    (and `engine.gcpace.release` puts the automatic GC back as it was)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self.pacer: GcPacer | None = None

    def acquire(self) -> None:
        with self._lock:
            self._holders += 1
            if self.pacer is None:
                self.pacer = pace(GeventTimers())

    def release(self) -> None:
        with self._lock:
            if self._holders == 0:
                return
            self._holders -= 1
            if self._holders == 0 and self.pacer is not None:
                release(self.pacer)
                self.pacer = None

    def __repr__(self) -> str:
        return f"PacingShare(holders={self._holders}, pacer={self.pacer!r})"
