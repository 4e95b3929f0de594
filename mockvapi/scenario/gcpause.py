"""Loading a scenario with the cyclic GC's automatic collections paused.

Measured (issue 17): the loader's own work is linear (the same CPU per step from 1,000 to 32,000 steps
with the GC off), yet loading grew 11-14x from 1,000 to 8,000 steps. The rest was the cyclic GC: a
load keeps 9-14 tracked objects per step alive until it returns (PyYAML's node graph and its marks,
then the validated models), so a large file crosses CPython's full-collection threshold (a quarter of
the process's long-lived objects) once or more, and every full collection scans the whole process
(in the bench's process, a 1,000-step file: 0.2 full collections per load; 8,000 steps: 2.1, of about
140,000 objects each). The loader makes
no cyclic garbage worth collecting early and what it holds is bounded by `Limits` (size, values), so
the automatic GC stays off while it runs; the collections due then run once, after it.

Counted and process-wide, in one count with `engine.gcpace`'s pacers (a pacer that starts while a
scenario loads in another thread must not find its GC turned back on when the load ends): the first
holder turns automatic collection off, the last restores it as it was.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["automatic_off", "automatic_restore", "collections_paused"]

_lock = threading.Lock()
_holders = 0
_resume = False


def automatic_off() -> None:
    """Hold the automatic GC off. Counted with every other holder (this module's pauses and
    `engine.gcpace`'s pacers): the first turns it off, the last `automatic_restore()` puts it back as it
    was before the first, whichever order they come and go in."""
    global _holders, _resume
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1


def automatic_restore() -> None:
    """Let go of one `automatic_off()`."""
    global _holders
    with _lock:
        _holders -= 1
        if _holders == 0 and _resume:
            gc.enable()


@contextmanager
def collections_paused() -> Iterator[None]:
    """No automatic cyclic-GC collection inside the block (nestable, thread-safe)."""
    automatic_off()
    try:
        yield
    finally:
        automatic_restore()
