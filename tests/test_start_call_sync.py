"""`start_call()` from sync code (issue 14, item 12): the call plays on `start_sync()`'s background loop, the
calling thread gets no event loop of its own, and a call from another event loop is refused clearly."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from mockvapi.errors import MockVapiError
from mockvapi.testing import MockVapi


class Collect:
    """A webhook callable: records each message type, answers {}."""

    def __init__(self) -> None:
        self.types: list[str] = []

    def __call__(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        self.types.append(body["message"]["type"])
        return {}


def _in_a_fresh_thread(work: Any) -> Any:
    """Run `work()` in a new thread (no event loop set there) and return what it returned, or raise."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = work()
        except BaseException as exc:  # handed to the test's thread
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_start_call_from_sync_code_plays_on_the_background_loop() -> None:
    collect = Collect()

    def work() -> tuple[str | None, list[str], bool]:
        vapi = MockVapi(webhook=collect)
        vapi.start_sync()
        try:
            call = vapi.start_call("happy-path")
            call.wait_sync(timeout=30)
            ended = call.ended_reason
        finally:
            vapi.stop()
        try:
            asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            left = False  # this thread has no event loop: start_call did not make one
        else:
            left = True
        return ended, collect.types, left

    ended, types, loop_left = _in_a_fresh_thread(work)
    assert ended == "customer-ended-call"
    assert types[0] == "status-update" and types[-1] == "end-of-call-report"
    assert not loop_left


def test_the_sync_with_form_and_several_calls() -> None:
    collect = Collect()
    with MockVapi(webhook=collect) as vapi:
        calls = [vapi.start_call("happy-path", seed=n) for n in range(3)]
        for call in calls:
            call.wait_sync(timeout=30)
        assert all(c.done for c in calls)
        assert len({c.id for c in calls}) == 3
    assert collect.types.count("end-of-call-report") == 3


def test_start_call_from_another_event_loop_is_refused_clearly() -> None:
    with MockVapi() as vapi:

        async def elsewhere() -> None:
            vapi.start_call("happy-path")

        with pytest.raises(MockVapiError, match="own event loop"):
            asyncio.run(elsewhere())
        assert vapi.calls == []
