"""`Flag`: `asyncio.Event`'s behaviour without its per-instance cost.

A call holds a few events (done, started, a client joined, a control arrived; its webhook sink's idle),
most never waited on. An `asyncio.Event` makes a waiter deque as it is made (624 bytes) and keeps an
instance dict: ~0.8 kB each, ~4 kB per live call. A `Flag` has two slots and a list of waiters made by the
first `wait()` and dropped when the last waiter leaves. Same semantics, same order: `set()` wakes the
waiters in the order they began waiting, each by resolving its future, so the loop runs them as it would
an Event's.
"""

from __future__ import annotations

import asyncio

__all__ = ["Flag"]


class Flag:
    """An `asyncio.Event` (`set`, `clear`, `is_set`, `await wait()`) holding no waiter list until waited on."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[bool]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if not self._value:
            self._value = True
            waiters = self._waiters
            if waiters:
                for future in waiters:
                    if not future.done():
                        future.set_result(True)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        """Return True at once if set, else once `set()` is called (as `asyncio.Event.wait`)."""
        if self._value:
            return True
        future = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = []
        waiters.append(future)
        try:
            await future
            return True
        finally:
            waiters.remove(future)
            if not waiters and self._waiters is waiters:
                self._waiters = None

    def __repr__(self) -> str:
        waiting = len(self._waiters) if self._waiters else 0
        return f"Flag({'set' if self._value else 'clear'}{f', {waiting} waiting' if waiting else ''})"
